"""Pipeline assembly: the whole Self-Instruct bootstrap as one distilabel `Pipeline`.

```
                        BootstrapRun (pool path, target, seeds, stop rule settings)
                          │ the same object in every loop step ─────────────────────┐
                          ▼                                                         │
SampleDemonstrations ─► GenerateInstructions ─► SplitInstructions ─► FilterInstructions
   │ ▲ asks StopRule: generate / wait / done                                        │
   │ │                                                                              ▼
   │ └──── reads ◄──── PoolStore (SQLite) ◄─── writes ◄── AdmitToPool ◄── RougeLFilter
   │                     ▲  ▲                          (StopRule gate)   (scores only)
   │                     │  └───── finished tasks ◄── CommitToPool ◄── FilterInstances
   │                     │                            (StopRule cap)          ▲
   └─ seeds ─────────────┘                                                     │
                        IdentifyClassification ──► GenerateInstances ──────────┘
                        (after AdmitToPool)          [CommitToPool ─► SelfInstructToArgilla]
```

With an LLM judge, `FilterInstances ─► JudgeInstances ─► FilterJudgedInstances ─►
CommitToPool`: the judge rates, the filter after it applies the threshold.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Optional, Sequence

from distilabel.pipeline import Pipeline
from distilabel.steps import StepResources

from distilabel_selfinstruct.admission import AdmitToPool
from distilabel_selfinstruct.bootstrap.run import BootstrapRun
from distilabel_selfinstruct.classification import IdentifyClassification
from distilabel_selfinstruct.commit import CommitToPool
from distilabel_selfinstruct.filters.instance_filters import FilterInstances
from distilabel_selfinstruct.filters.instruction_filters import FilterInstructions
from distilabel_selfinstruct.filters.judged import FilterJudgedInstances
from distilabel_selfinstruct.filters.rouge import RougeLFilter
from distilabel_selfinstruct.filters.semantic import DEFAULT_SEMANTIC_THRESHOLD, SemanticDedup
from distilabel_selfinstruct.instances import GenerateInstances
from distilabel_selfinstruct.instructions import GenerateInstructions, SplitInstructions
from distilabel_selfinstruct.judge import JudgeInstances
from distilabel_selfinstruct.loop_pipeline import SelfInstructPipeline
from distilabel_selfinstruct.pool import is_networked
from distilabel_selfinstruct.run_directory import (  # noqa: F401 - their old home, still imported from here
    POOL_FILENAME,
    POOL_URL_FILENAME,
    pool_location_for,
    pool_path_for,
    record_pool_location,
)
from distilabel_selfinstruct.sampling import SampleDemonstrations

if TYPE_CHECKING:
    from distilabel.models.embeddings.base import Embeddings
    from distilabel.models.llms.base import LLM

# The degenerate-text checks a run can switch off (`FilterInstances.check_<name>`).
DEGENERATE_CHECKS: tuple[str, ...] = ("repetition", "run_on", "markup", "restatement", "label_set")
# With streamed requests, accepted-but-unfinished tasks the generator lets build up per
# request slot: enough queued work for the classification and instance stages to fill
# their slots, little enough that demonstrations stay recent.
IN_FLIGHT_PER_REQUEST_SLOT = 2
STREAMED_ROWS_PER_BATCH = 8


def default_llm() -> LLM:
    """The offline default: llama.cpp on the embedded gemma-3-270m GGUF."""
    from distilabel_selfinstruct.llms import LlamaCppCompletionLLM

    return LlamaCppCompletionLLM()


def _default_prompt_style(llm: LLM) -> Literal["completion", "chat"]:
    from distilabel.models.llms import LlamaCppLLM

    return "completion" if isinstance(llm, LlamaCppLLM) else "chat"


def build_pipeline(
    *,
    llm: Optional[LLM] = None,
    num_instructions: int = 100,
    output_dir: str | Path = "selfinstruct-out",
    prompt_style: Optional[Literal["completion", "chat"]] = None,
    seeds_path: Optional[list[str]] = None,
    batch_size: int = 4,
    num_instances: int = 5,
    rouge_threshold: float = 0.7,
    random_seed: int = 42,
    name: str = "self-instruct",
    argilla: Optional[dict[str, Any]] = None,
    max_concurrency: int = 1,
    budget: Optional[dict[str, Any]] = None,
    skip_checks: Sequence[str] = (),
    judge_llm: Optional[LLM] = None,
    judge_prompt_style: Optional[Literal["completion", "chat"]] = None,
    judge_min_rating: Literal["A", "B", "C", "D"] = "C",
    semantic_embeddings: Optional[Embeddings] = None,
    semantic_threshold: float = DEFAULT_SEMANTIC_THRESHOLD,
    demonstration_sampling: Literal["random", "diverse"] = "random",
    topics_path: Optional[str] = None,
    instruction_llm: Optional[LLM] = None,
    instances_llm: Optional[LLM] = None,
    pool: Optional[str] = None,
    ray: bool = False,
    step_resources: Optional[dict[str, dict[str, Any]]] = None,
) -> Pipeline:
    """Returns the Self-Instruct bootstrap as a ready distilabel `Pipeline`.

    Args:
        llm: any distilabel `LLM`; each LLM stage gets its own copy. Default: llama.cpp on the
            embedded gemma-3-270m (completion prompts).
        num_instructions: finished machine tasks (with instances) to produce.
        output_dir: where the pool store lives (`pool.sqlite`); reruns with the same directory
            resume (or continue to a larger target).
        prompt_style: `completion` for base models, `chat` for instruction-tuned ones.
            Default: `completion` for llama.cpp LLMs, `chat` otherwise.
        seeds_path: seed JSONL files, as given (relative paths stay relative). Default: the
            bundled seeds.
        batch_size: prompts per bootstrap round (the generator's `batch_size`).
        num_instances: instances per task (paper: up to 5).
        rouge_threshold: ROUGE-L F above which a candidate is too similar (paper: 0.7).
        random_seed: seed for every sampling decision of the steps.
        name: the pipeline's name (distilabel's cache is keyed by it).
        argilla: if given, keyword arguments for `SelfInstructToArgilla` (e.g.
            `{"dataset_name": "self-instruct"}`), which then pushes finished tasks for review.
        max_concurrency: LLM requests in flight at most, across the three LLM stages, for an
            async LLM (`OpenAILLM` and other HTTP clients; see `concurrency`). Above 1 the
            generator also waits while `2 * max_concurrency` accepted tasks are unfinished,
            and heartbeats often, so the stages' replies never wait long for a batch. The
            embedded llama.cpp model ignores it (one call at a time).
        budget: `BootstrapRun` settings for tokens and cost: `max_tokens`, `max_cost`,
            `prompt_price`, `completion_price` (USD per 1M tokens; see `usage`).
        skip_checks: degenerate-text checks to switch off, of `DEGENERATE_CHECKS`
            (`markup` also in the instruction filters; see `filters.degenerate`).
        judge_llm: if given, an LLM judge (`JudgeInstances`) rates every instance A-D
            before the commit, and `FilterJudgedInstances` keeps those rated at least
            `judge_min_rating`; ideally a stronger model than `llm`.
        judge_prompt_style: the judge's prompt style; default as for `prompt_style`, from
            the judge's LLM.
        judge_min_rating: the lowest rating kept (`C` drops D; `D` keeps all).
        semantic_embeddings: if given, `SemanticDedup` after the ROUGE-L filter drops
            candidates whose embedding cosine to a pool task is above `semantic_threshold`
            (the offline default model is `embeddings.MiniLMEmbeddings`).
        semantic_threshold: the semantic filter's cosine threshold.
        demonstration_sampling: `random` (the paper's) or `diverse`: each prompt's
            demonstrations span kinds of task (by leading verb; `SampleDemonstrations`).
        topics_path: a topic file (one per line, or a YAML taxonomy; see `topics`) that
            steers each instruction prompt toward a topic, favouring those with fewer tasks.
        instruction_llm: the instruction stage's LLM, if not `llm`: e.g. a
            `model_mix.ModelMix` of several models used in turn or by weight (the model
            that wrote each instruction is on its task, `instruction_model`).
        instances_llm: the instance stage's LLM, if not `llm` (a `ModelMix` too).
        pool: where the pool store is, if not `output_dir/pool.sqlite`: a SQLite path, or a
            `postgresql://user@host:port/db` URL that every node of a cluster reaches (its
            password, if any, stays out of the YAML; see `BootstrapRun.pool_path`).
        ray: return the pipeline as a distilabel `RayPipeline` (`compat.distilabel_ray`'s
            `WatchedRayPipeline`, which stops and raises when a node is lost): its steps
            become Ray actors on the cluster `RAY_ADDRESS` names (a local one without
            it). With actors on several machines, `pool` must be a server.
        step_resources: distilabel `StepResources` per step name, e.g.
            `{"generate_instances": {"replicas": 4, "gpus": 1}}` or, on Ray, a custom
            resource that places a step on some nodes (`{"resources": {"gpu_node": 1}}`).
            `sample_demonstrations` and `admit_to_pool` keep one replica: the loop has
            one generator and one writer of accepted instructions.

    One `pipeline.run()` ends with exactly `num_instructions` finished tasks in the pool
    store, or with the reason it could not in the log and in the store (see
    `SampleDemonstrations`).
    """
    seeds_path = check_arguments(
        num_instructions=num_instructions,
        output_dir=output_dir,
        prompt_style=prompt_style,
        seeds_path=seeds_path,
        batch_size=batch_size,
        num_instances=num_instances,
        rouge_threshold=rouge_threshold,
        max_concurrency=max_concurrency,
        skip_checks=skip_checks,
        judge_min_rating=judge_min_rating,
        semantic_threshold=semantic_threshold,
        demonstration_sampling=demonstration_sampling,
        topics_path=topics_path,
        pool=pool,
        step_resources=step_resources,
    )
    llm = llm or default_llm()
    prompt_style = prompt_style or _default_prompt_style(llm)
    from distilabel.models.llms.base import AsyncLLM

    streaming = max_concurrency > 1 and isinstance(llm, AsyncLLM)
    location = str(pool or pool_path_for(output_dir))
    run = BootstrapRun(
        pool_path=location,
        # A server pool's run directory is not the pool's: the YAML says where it is.
        output_dir=str(output_dir) if is_networked(location) else None,
        num_instructions=num_instructions,
        seeds_path=seeds_path,
        rouge_threshold=rouge_threshold,
        semantic_threshold=semantic_threshold,
        max_in_flight=IN_FLIGHT_PER_REQUEST_SLOT * max_concurrency if streaming else None,
        **(budget or {}),
    )
    # Streamed replies leave a stage with its next batch; while the generator waits, its
    # heartbeats are those batches.
    waiting = {"heartbeat_s": 0.2, "poll_s": 0.05} if streaming else {}

    with SelfInstructPipeline(
        name=name,
        description="Self-Instruct bootstrap (arXiv 2212.10560) as distilabel steps.",
        # Kept beside the pool so one directory holds everything a resume needs.
        cache_dir=Path(output_dir) / "cache",
    ) as pipeline:
        sample = SampleDemonstrations(
            name="sample_demonstrations",
            run=run,
            batch_size=batch_size,
            random_seed=random_seed,
            demonstration_sampling=demonstration_sampling,
            topics_path=topics_path,
            **waiting,
        )
        # The LLM stages get `run` too: a failing server ends the run (llm_task.LLMTask).
        generate = GenerateInstructions(
            name="generate_instructions",
            run=run,
            llm=(instruction_llm or llm).model_copy(deep=True),
            prompt_style=prompt_style,
            max_concurrency=max_concurrency,
            input_batch_size=batch_size,
        )
        split = SplitInstructions(name="split_instructions", run=run, input_batch_size=batch_size)
        # From here on, one row per batch: the generator waits for the tasks in flight
        # before it decides to go on, and a task parked in a half-full batch would never
        # arrive (a resumed run's unfinished tasks are in flight before admission too).
        # The default LLM answers one prompt at a time anyway.
        # Streaming, empty batches flush (compat.distilabel_batch_manager), so rows may wait
        # for a batch to fill: batches of rows cost less CPU per row than one-row batches.
        rows = STREAMED_ROWS_PER_BATCH if streaming else 1
        switches = {f"check_{name}": name not in skip_checks for name in DEGENERATE_CHECKS}
        heuristics = FilterInstructions(
            name="filter_instructions",
            run=run,
            input_batch_size=rows,
            check_markup=switches["check_markup"],
        )
        novelty = RougeLFilter(name="rouge_l_filter", run=run, input_batch_size=rows)
        semantic = (
            None
            if semantic_embeddings is None
            else SemanticDedup(
                name="semantic_dedup",
                run=run,
                embeddings=semantic_embeddings.model_copy(deep=True),
                input_batch_size=rows,
            )
        )
        admit = AdmitToPool(name="admit_to_pool", run=run, input_batch_size=rows)
        classify = IdentifyClassification(
            name="identify_classification",
            run=run,
            llm=llm.model_copy(deep=True),
            prompt_style=prompt_style,
            seeds_path=seeds_path,
            random_seed=random_seed,
            max_concurrency=max_concurrency,
            input_batch_size=rows,
        )
        instances = GenerateInstances(
            name="generate_instances",
            run=run,
            llm=(instances_llm or llm).model_copy(deep=True),
            prompt_style=prompt_style,
            seeds_path=seeds_path,
            num_instances=num_instances,
            random_seed=random_seed,
            max_concurrency=max_concurrency,
            input_batch_size=rows,
        )
        instance_filter = FilterInstances(
            name="filter_instances",
            run=run,
            max_instances=num_instances,
            seeds_path=seeds_path,
            input_batch_size=rows,
            **switches,
        )
        commit = CommitToPool(name="commit_to_pool", run=run, input_batch_size=rows)
        sample >> generate >> split >> heuristics >> novelty
        if semantic is None:
            novelty >> admit
        else:
            novelty >> semantic >> admit
        admit >> classify >> instances >> instance_filter
        if judge_llm is None:
            instance_filter >> commit
        else:
            judge = JudgeInstances(
                name="judge_instances",
                run=run,
                llm=judge_llm.model_copy(deep=True),
                prompt_style=judge_prompt_style or _default_prompt_style(judge_llm),
                max_concurrency=max_concurrency,
                input_batch_size=rows,
            )
            judged = FilterJudgedInstances(
                name="filter_judged_instances",
                run=run,
                min_rating=judge_min_rating,
                input_batch_size=rows,
            )
            instance_filter >> judge >> judged >> commit
        if argilla is not None:
            from distilabel_selfinstruct.argilla.step import SelfInstructToArgilla
            from distilabel_selfinstruct.export import OFFICIAL_FILENAME

            # The resume command the step prints names the JSONL the CLI writes.
            options = {"resume_input": str(Path(output_dir) / OFFICIAL_FILENAME), **argilla}
            commit >> SelfInstructToArgilla(name="push_to_argilla", **options)
    for step_name, resources in (step_resources or {}).items():
        if step_name not in pipeline.dag:
            raise ValueError(f"step_resources: this pipeline has no step '{step_name}'")
        pipeline.dag.get_step(step_name)["step"].resources = StepResources(**resources)
    if ray:
        from distilabel_selfinstruct.loop_pipeline import to_ray

        return to_ray(pipeline)
    return pipeline


# The loop's steps that must stay single: one generator, one writer of accepted tasks.
SINGLE_REPLICA_STEPS = ("sample_demonstrations", "admit_to_pool")
STEP_NAMES = (
    "sample_demonstrations",
    "generate_instructions",
    "split_instructions",
    "filter_instructions",
    "rouge_l_filter",
    "semantic_dedup",
    "admit_to_pool",
    "identify_classification",
    "generate_instances",
    "filter_instances",
    "judge_instances",
    "filter_judged_instances",
    "commit_to_pool",
    "push_to_argilla",
)


class PipelineArgumentError(ValueError):
    """An argument of `build_pipeline` that cannot work (one line naming it)."""


def check_arguments(
    *,
    num_instructions: Any,
    output_dir: Any,
    prompt_style: Any,
    seeds_path: Any,
    batch_size: Any,
    num_instances: Any,
    rouge_threshold: Any,
    max_concurrency: Any,
    skip_checks: Any,
    judge_min_rating: Any,
    semantic_threshold: Any,
    demonstration_sampling: Any,
    topics_path: Any,
    pool: Any,
    step_resources: Any,
) -> Optional[list[str]]:
    """Checks `build_pipeline`'s arguments once, before any step is built, with the
    command line's messages; returns `seeds_path` as a list (one path may be given alone).

    Raises:
        PipelineArgumentError: the first argument that cannot work, in one line.
    """
    from distilabel_selfinstruct.seeds import SeedFileError, load_seed_tasks, seed_paths
    from distilabel_selfinstruct.topics import TopicFileError, load_topics

    def whole(name: str, value: Any, smallest: int = 1) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < smallest:
            raise PipelineArgumentError(
                f"build_pipeline({name}={value!r}): expected a whole number of at least {smallest}"
            )

    def number(name: str, value: Any, lowest: float, highest: float) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise PipelineArgumentError(f"build_pipeline({name}={value!r}): expected a number")
        if not lowest <= value <= highest:
            raise PipelineArgumentError(
                f"build_pipeline({name}={value!r}): must be from {lowest:g} to {highest:g}"
            )

    def one_of(name: str, value: Any, allowed: Sequence[Any]) -> None:
        if value not in allowed:
            raise PipelineArgumentError(
                f"build_pipeline({name}={value!r}): expected one of {', '.join(map(repr, allowed))}"
            )

    whole("num_instructions", num_instructions)
    whole("batch_size", batch_size)
    whole("num_instances", num_instances)
    whole("max_concurrency", max_concurrency)
    number("rouge_threshold", rouge_threshold, 0.0, 1.0)
    number("semantic_threshold", semantic_threshold, -1.0, 1.0)
    one_of("prompt_style", prompt_style, (None, "completion", "chat"))
    one_of("judge_min_rating", judge_min_rating, ("A", "B", "C", "D"))
    one_of("demonstration_sampling", demonstration_sampling, ("random", "diverse"))
    if not isinstance(output_dir, (str, Path)) or not str(output_dir):
        raise PipelineArgumentError(f"build_pipeline(output_dir={output_dir!r}): expected a path")
    if Path(output_dir).exists() and not Path(output_dir).is_dir():
        raise PipelineArgumentError(
            f"build_pipeline(output_dir={str(output_dir)!r}): is a file, not a run directory"
        )
    if isinstance(skip_checks, str) or not all(isinstance(c, str) for c in skip_checks):
        raise PipelineArgumentError(
            f"build_pipeline(skip_checks={skip_checks!r}): expected a list of check names"
        )
    unknown = sorted(set(skip_checks) - set(DEGENERATE_CHECKS))
    if unknown:
        raise PipelineArgumentError(
            f"build_pipeline(skip_checks=...): unknown check(s) {', '.join(unknown)};"
            f" known: {', '.join(DEGENERATE_CHECKS)}"
        )
    if isinstance(seeds_path, (str, Path)):
        seeds_path = [str(seeds_path)]  # one file, as the command line's --seeds takes it
    elif seeds_path is not None:
        if not isinstance(seeds_path, (list, tuple)) or not all(
            isinstance(item, (str, Path)) for item in seeds_path
        ):
            raise PipelineArgumentError(
                f"build_pipeline(seeds_path={seeds_path!r}): expected a path or a list of paths"
            )
        seeds_path = [str(item) for item in seeds_path]
    try:
        load_seed_tasks(seed_paths(seeds_path))
    except SeedFileError as error:
        raise PipelineArgumentError(
            f"build_pipeline(seeds_path=...): bad seed file: {error}"
        ) from None
    if topics_path is not None:
        try:
            load_topics(topics_path)
        except TopicFileError as error:
            raise PipelineArgumentError(f"build_pipeline(topics_path=...): {error}") from None
    if pool is not None and (not isinstance(pool, str) or not pool):
        raise PipelineArgumentError(
            f"build_pipeline(pool={pool!r}): expected a SQLite path or a postgresql:// URL"
        )
    try:
        _check_step_resources(step_resources or {})
    except ValueError as error:
        raise PipelineArgumentError(f"build_pipeline({error}") from None
    return seeds_path


def _check_step_resources(step_resources: dict[str, dict[str, Any]]) -> None:
    for step_name, resources in step_resources.items():
        if step_name not in STEP_NAMES:
            raise ValueError(f"step_resources=...): no step '{step_name}'; steps: {STEP_NAMES}")
        if step_name in SINGLE_REPLICA_STEPS and resources.get("replicas", 1) != 1:
            raise ValueError(
                f"step_resources=...): '{step_name}' keeps one replica (the loop has one generator"
                " and one writer of accepted instructions)"
            )
