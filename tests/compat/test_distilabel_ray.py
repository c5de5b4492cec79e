"""`compat.distilabel_ray` without a cluster: what `to_ray` returns and what it refuses
before anything starts. (A real cluster with a node killed mid-run:
tests/test_ray_cluster.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest
from distilabel.pipeline.ray import RayPipeline

from distilabel_selfinstruct.compat._guard import DISABLE_ENV
from distilabel_selfinstruct.compat.distilabel_ray import WatchedRayPipeline
from distilabel_selfinstruct.compat.pipeline import has_loop_fixes
from distilabel_selfinstruct.loop_pipeline import SelfInstructRayPipeline, to_ray
from distilabel_selfinstruct.pipeline import build_pipeline
from tests.scripted import scripted_llm

pytestmark = pytest.mark.usefixtures("isolated_env")


def pipeline(tmp_path: Path, **kwargs):
    return build_pipeline(
        llm=scripted_llm(),
        prompt_style="completion",
        num_instructions=3,
        output_dir=tmp_path,
        **kwargs,
    )


def test_to_ray_keeps_the_dag_and_the_compat_switch_gives_distilabels_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    local = pipeline(tmp_path)
    watched = to_ray(local)
    assert type(watched) is SelfInstructRayPipeline and watched.dag is local.dag
    assert isinstance(watched, WatchedRayPipeline) and has_loop_fixes(watched)
    assert watched.dump()["pipeline"]["type_info"]["name"] == "Pipeline"  # the shared YAML
    monkeypatch.setenv(DISABLE_ENV, "distilabel_ray")
    plain = to_ray(local)  # distilabel's own, with only our distilabel fixes
    assert isinstance(plain, RayPipeline) and not isinstance(plain, WatchedRayPipeline)
    assert has_loop_fixes(plain)


def test_a_pool_file_on_a_cluster_of_several_nodes_is_refused_in_one_line(
    tmp_path: Path,
) -> None:
    watched = pipeline(tmp_path, ray=True)
    watched._check_pool_reachable(1)  # one node: every step shares this disk
    with pytest.raises(ValueError) as raised:
        watched._check_pool_reachable(2)
    message = str(raised.value)
    assert "is a file on this machine, and the Ray cluster has 2 nodes" in message
    assert "\n" not in message
    server = pipeline(tmp_path / "s", ray=True, pool="postgresql://u@db.example/pool")
    server._check_pool_reachable(3)
