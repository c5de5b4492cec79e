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
from distilabel_selfinstruct.compat.pipeline import SelfInstructPipeline
from distilabel_selfinstruct.files import atomic_write_text
from distilabel_selfinstruct.filters.instance_filters import FilterInstances
from distilabel_selfinstruct.filters.instruction_filters import FilterInstructions
from distilabel_selfinstruct.filters.judged import FilterJudgedInstances
from distilabel_selfinstruct.filters.rouge import RougeLFilter
from distilabel_selfinstruct.filters.semantic import DEFAULT_SEMANTIC_THRESHOLD, SemanticDedup
from distilabel_selfinstruct.instances import GenerateInstances
from distilabel_selfinstruct.instructions import GenerateInstructions, SplitInstructions
from distilabel_selfinstruct.judge import JudgeInstances
from distilabel_selfinstruct.pool import is_networked, split_password
from distilabel_selfinstruct.sampling import SampleDemonstrations

if TYPE_CHECKING:
    from distilabel.models.embeddings.base import Embeddings
    from distilabel.models.llms.base import LLM

POOL_FILENAME = "pool.sqlite"
# In a run directory whose pool is on a server: the pool's URL (no password).
POOL_URL_FILENAME = "pool.url"
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


def pool_path_for(output_dir: str | Path) -> Path:
    """The run directory's own SQLite pool (the default store)."""
    return Path(output_dir) / POOL_FILENAME


def pool_location_for(output_dir: str | Path) -> str:
    """Where the run in `output_dir` keeps its pool: the server its `pool.url` names (a
    run started with a `postgresql://` pool), else its `pool.sqlite`."""
    marker = Path(output_dir) / POOL_URL_FILENAME
    if marker.is_file():
        return marker.read_text(encoding="utf-8").strip()
    return str(pool_path_for(output_dir))


def record_pool_location(output_dir: str | Path, location: str) -> None:
    """Notes a server pool in the run directory, so that `export`, `summary`, `report`
    and `verify` on the directory find it (the URL without its password); a file pool
    removes the note."""
    marker = Path(output_dir) / POOL_URL_FILENAME
    if is_networked(location):
        atomic_write_text(marker, split_password(location)[0] + "\n")
    else:
        marker.unlink(missing_ok=True)  # the directory's own pool.sqlite again


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
    llm = llm or default_llm()
    prompt_style = prompt_style or _default_prompt_style(llm)
    from distilabel.models.llms.base import AsyncLLM

    streaming = max_concurrency > 1 and isinstance(llm, AsyncLLM)
    _check_step_resources(step_resources or {})
    run = BootstrapRun(
        pool_path=str(pool or pool_path_for(output_dir)),
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
    Path(output_dir).mkdir(parents=True, exist_ok=True)
    record_pool_location(output_dir, run.pool_path)

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
        # The LLM stages get `run` too: a failing server ends the run (StopsOnServerFailure).
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
        unknown = set(skip_checks) - set(DEGENERATE_CHECKS)
        if unknown:
            raise ValueError(f"unknown check(s) {sorted(unknown)}; known: {DEGENERATE_CHECKS}")
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
        from distilabel_selfinstruct.compat.distilabel_ray import to_ray

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


def _check_step_resources(step_resources: dict[str, dict[str, Any]]) -> None:
    for step_name, resources in step_resources.items():
        if step_name not in STEP_NAMES:
            raise ValueError(f"step_resources: no step '{step_name}'; steps: {STEP_NAMES}")
        if step_name in SINGLE_REPLICA_STEPS and resources.get("replicas", 1) != 1:
            raise ValueError(
                f"step_resources: '{step_name}' keeps one replica (the loop has one generator"
                " and one writer of accepted instructions)"
            )
