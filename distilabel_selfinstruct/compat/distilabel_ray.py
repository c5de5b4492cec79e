"""distilabel 1.5's `RayPipeline` does not notice a step actor that dies.

`RayPipeline._run_step` starts each step replica as a Ray actor and drops both the actor
handle and the `ObjectRef` of its `run()`. When a node is lost (killed, preempted, out of
memory), its actors die, but the driver keeps waiting on the output queue for batches
that will never come, and a Ctrl-C then hangs too: the dead step still counts as loaded.
A failed load is also silent (`_set_steps_not_loaded_exception` is empty), so `run()`
returns a partial result instead of raising. Its queues (`ray.util.queue.Queue` actors)
are placed wherever Ray likes, so losing a worker node can take the output queue with it.

`WatchedRayPipeline` is `RayPipeline` with these fixed:

* after starting a replica (`_run_step`, the private method, called through), it looks up
  the actor by the name distilabel gives it and queues one `__ray_ready__` call on it. The
  call runs only once `run()` has returned, or fails as soon as the actor dies; a watcher
  thread waits on these calls. A death sets the pipeline's exception (`StepActorLostError`,
  one line naming the step, the replica and Ray's reason), counts the replica out of the
  private `_steps_load_status` (so the stop does not wait for it) and stops the pipeline,
  which then raises. The work the dead replica held is not lost: the bootstrap loop's
  state is in the pool store, and a rerun replays the tasks that were in flight;
* before anything starts, a pool file (SQLite) on a cluster of several nodes is refused
  (`ValueError`, one line): the steps on the other nodes would open pools of their own;
* a failed load raises (`RuntimeError`), as distilabel's local `Pipeline` does;
* every queue is pinned to the driver's node with no CPU reserved
  (`NodeAffinitySchedulingStrategy`, through the public `QueueClass`): a worker node's
  loss never takes a queue with it.

`to_ray(pipeline)` is `Pipeline.ray()` returning a `WatchedRayPipeline`; the YAML it saves
names a plain `Pipeline`, as distilabel's does.

Guard: checked on distilabel `DISTILABEL_RANGE` with Ray `RAY_RANGE` (the Ray this package
pins: `pyproject.toml`, extra `ray`). Outside them the first use warns once (a
`RuntimeWarning`) and still applies, since the fix only adds to what distilabel does.
tests/test_ray_cluster.py kills a worker node mid-run on a real cluster and checks the
driver ends with that one line. With `SELFINSTRUCT_DISABLE_COMPAT=distilabel_ray` (`to_ray`
then returns distilabel's own `RayPipeline`) it fails: in the run checked, Ray had placed
the log queue on the worker node, the steps' logging broke with it, and the driver ended
without naming what was lost.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Callable, Optional

from distilabel.pipeline.base import _STEP_LOAD_FAILED_CODE, _STEP_UNLOADED_CODE
from distilabel.pipeline.ray import RayPipeline

from distilabel_selfinstruct.compat._guard import disabled, warn_if_unchecked

if TYPE_CHECKING:
    from distilabel.pipeline import Pipeline
    from distilabel.steps.base import _Step

NAME = "distilabel_ray"
DISTILABEL_RANGE = ((1, 5, 3), (1, 6))
RAY_RANGE = ((2, 40), (2, 41))
WATCH_INTERVAL_S = 1.0


class StepActorLostError(RuntimeError):
    """A step replica's Ray actor died (its node was lost); one line."""


def _check_versions() -> None:
    import distilabel
    import ray

    what = "where RayPipeline was checked not to notice a dead step actor"
    warn_if_unchecked(NAME, "distilabel", distilabel.__version__, DISTILABEL_RANGE, what)
    warn_if_unchecked(f"{NAME}:ray", "ray", ray.__version__, RAY_RANGE, what)


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


class WatchedRayPipeline(RayPipeline):
    """distilabel's `RayPipeline` that stops, and raises, when a step's actor dies."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._watch_lock = threading.Lock()
        self._watched: dict[Any, tuple[str, int]] = {}
        self._watch_done = threading.Event()
        self._watcher: Optional[threading.Thread] = None
        self._lost_stop_sent = False

    @property
    def QueueClass(self) -> Callable[..., Any]:
        import ray
        from ray.util.queue import Queue
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        node_id = ray.get_runtime_context().get_node_id()

        def pinned_queue(maxsize: int = 0, actor_options: Optional[dict] = None) -> Queue:
            options = {
                "num_cpus": 0,
                "scheduling_strategy": NodeAffinitySchedulingStrategy(node_id, soft=False),
                **(actor_options or {}),
            }
            return Queue(maxsize=maxsize, actor_options=options)

        return pinned_queue

    def run(self, *args: Any, **kwargs: Any) -> Any:
        _check_versions()
        self._watch_done.clear()
        self._watcher, self._lost_stop_sent = None, False
        if self._ray_head_node_url is None:
            import ray

            if not ray.is_initialized():
                # As distilabel would (it reuses a Ray it finds initialised), but first, so
                # the cluster can be checked against the pool before anything starts.
                ray.init(**self._ray_init_kwargs)
            self._check_pool_reachable(sum(node["Alive"] for node in ray.nodes()))
        try:
            return super().run(*args, **kwargs)
        finally:
            self._watch_done.set()
            if self._watcher is not None:
                self._watcher.join(timeout=10)

    def _check_pool_reachable(self, nodes: int) -> None:
        """Refuses a pool file on a cluster of several nodes: the steps on the other nodes
        would each open a pool of their own on their disks."""
        if nodes <= 1:
            return
        for step_name in self.dag:
            run = getattr(self.dag.get_step(step_name)["step"], "run", None)
            if run is not None and not run.networked_pool:
                raise ValueError(
                    f"step '{step_name}': the pool {run.pool_path} is a file on this machine,"
                    f" and the Ray cluster has {nodes} nodes; give the run a server pool"
                    " (postgresql://..., docs/scale-out.md)"
                )

    def _run_step(self, step: _Step, input_queue: Any, replica: int) -> None:
        import ray

        super()._run_step(step, input_queue, replica)
        # The name distilabel's `_run_step` gives the actor.
        actor = ray.get_actor(f"distilabel-{self.name}-{step.name}-{replica}")
        with self._watch_lock:
            self._watched[actor.__ray_ready__.remote()] = (step.name, replica)  # type: ignore[arg-type]
            if self._watcher is None:
                self._watcher = threading.Thread(
                    target=self._watch, name="distilabel-selfinstruct-ray-watch", daemon=True
                )
                self._watcher.start()

    def _watch(self) -> None:
        import ray

        while not self._watch_done.is_set():
            with self._watch_lock:
                pending = list(self._watched)
            if not pending:
                self._watch_done.wait(WATCH_INTERVAL_S)
                continue
            ready, _ = ray.wait(pending, num_returns=len(pending), timeout=WATCH_INTERVAL_S)
            for ref in ready:
                with self._watch_lock:
                    step_name, replica = self._watched.pop(ref)
                try:
                    ray.get(ref)  # the replica's run() returned: it ended normally
                except Exception as error:  # noqa: BLE001 - any failure of the call: lost
                    self._actor_lost(step_name, replica, error)

    def _actor_lost(self, step_name: str, replica: int, error: BaseException) -> None:
        self._logger.error(f"❌ Step '{step_name}' replica {replica}: its Ray actor died")
        if self._exception is None:
            self._exception = StepActorLostError(
                f"step '{step_name}' (replica {replica}) was lost with its Ray actor"
                f" ({_first_line(error)}); what finished is in the pool store: rerun to resume"
            )
        # Recorded here, not through the load queue: the stop that follows must not wait
        # for a replica the load thread has not yet counted out.
        with self._steps_load_status_lock:
            replicas = self._steps_load_status.get(step_name, 0)
            if replicas > 1:
                self._steps_load_status[step_name] = replicas - 1
            elif replicas == 1:
                self._steps_load_status[step_name] = _STEP_UNLOADED_CODE
            else:  # not loaded yet (or already failed)
                self._steps_load_status[step_name] = _STEP_LOAD_FAILED_CODE
        with self._watch_lock:
            if self._lost_stop_sent:
                return
            self._lost_stop_sent = True
        self._stop()

    def _set_steps_not_loaded_exception(self) -> None:
        if self._exception is None:
            self._exception = RuntimeError("Failed to load all the steps. Could not run pipeline.")


def ray_pipeline_class() -> type[RayPipeline]:
    """`WatchedRayPipeline`, or distilabel's own `RayPipeline` where
    `$SELFINSTRUCT_DISABLE_COMPAT` names this module."""
    return RayPipeline if disabled(NAME) else WatchedRayPipeline


def to_ray(
    pipeline: Pipeline,
    ray_head_node_url: Optional[str] = None,
    ray_init_kwargs: Optional[dict[str, Any]] = None,
    cls: Optional[type[RayPipeline]] = None,
) -> RayPipeline:
    """`pipeline.ray()`, as `cls` (default: `ray_pipeline_class()`), with the same DAG
    and settings. (`loop_pipeline.to_ray` gives our pipelines' Ray class.)"""
    cls = cls or ray_pipeline_class()
    ray_pipeline = cls(
        name=pipeline.name,
        description=pipeline.description,
        cache_dir=pipeline._cache_dir,
        enable_metadata=pipeline._enable_metadata,
        requirements=pipeline.requirements,
        ray_head_node_url=ray_head_node_url,
        ray_init_kwargs=ray_init_kwargs,
    )
    ray_pipeline.dag = pipeline.dag
    return ray_pipeline
