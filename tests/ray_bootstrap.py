"""The driver of the Ray cluster test (`python -m tests.ray_bootstrap OUTPUT POOL TARGET
DELAY`): the scripted bootstrap on the cluster `RAY_ADDRESS` names, with its pool in
PostgreSQL, run from the pipeline YAML as a teammate would.

The first invocation builds the pipeline and saves `OUTPUT/pipeline.yaml`; every
invocation (the first, and the rerun after a node was lost) loads that YAML, turns it into
a `WatchedRayPipeline` and runs it. The LLM stages and the instance filter are placed on
worker nodes, the rest on the head, by custom resources (`tests/ray_cluster.py`).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HEAD_STEPS = (
    "sample_demonstrations",
    "split_instructions",
    "filter_instructions",
    "rouge_l_filter",
    "admit_to_pool",
    "commit_to_pool",
)
WORKER_STEPS = (
    "generate_instructions",
    "identify_classification",
    "generate_instances",
    "filter_instances",
)


def main(output: str, pool: str, target: str, delay_s: str) -> int:
    import ray
    from distilabel.pipeline import Pipeline

    from distilabel_selfinstruct.compat.distilabel_ray import StepActorLostError
    from distilabel_selfinstruct.loop_pipeline import to_ray
    from distilabel_selfinstruct.pipeline import build_pipeline
    from tests.ray_cluster import HEAD_RESOURCE, WORKER_RESOURCE
    from tests.scripted import scripted_llm

    config = Path(output) / "pipeline.yaml"
    if not config.exists():
        resources = {name: {"resources": {HEAD_RESOURCE: 1}} for name in HEAD_STEPS}
        resources.update({name: {"resources": {WORKER_RESOURCE: 1}} for name in WORKER_STEPS})
        pipeline = build_pipeline(
            llm=scripted_llm(float(delay_s)),
            prompt_style="completion",
            num_instructions=int(target),
            output_dir=output,
            batch_size=2,
            pool=pool,
            ray=True,
            step_resources=resources,
        )
        pipeline.save(config, format="yaml")
    # distilabel reuses a Ray it finds initialised: connect first, and check the driver
    # attached to the head (it must outlive a worker node).
    # (Ray's own session file may name a worker's address: tests/ray_cluster.py.)
    head_ip = os.environ["RAY_ADDRESS"].rsplit(":", 1)[0]
    ray.init(logging_level="ERROR", _node_ip_address=head_ip)
    node = ray.get_runtime_context().get_node_id()
    head = [n["NodeID"] for n in ray.nodes() if HEAD_RESOURCE in n["Resources"] and n["Alive"]]
    print(f"driver on the head: {node in head}", flush=True)
    try:
        to_ray(Pipeline.from_yaml(config)).run(use_cache=False)
    except StepActorLostError as error:
        print(f"error: {error}", flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
