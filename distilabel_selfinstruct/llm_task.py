"""The base of this package's LLM tasks: distilabel's public `Task` contract, one `process`.

A task of ours (`GenerateInstructions`, `IdentifyClassification`, `GenerateInstances`,
`JudgeInstances`) writes only what distilabel asks of any task (`inputs`, `outputs`,
`format_input`, `format_output`) and at most the one hook `LLMTask.complete_row`. `LLMTask`
is the only class that defines `process`: it has to, to keep requests in flight across
batches. It composes parts that each own one concern and know nothing of rows:

* `concurrency.RequestStream` (with `RequestSlots` and `Retries`): many requests in flight
  across batches, the run's request slots, the retries of requests that may pass;
* `llm_failures.ServerFailures`: whether an error is the server's (the run stops) or one
  request's;
* `usage.step_counters`: the calls, tokens, failed requests and retries added to the run's
  counters;
* `generation.finished_flags`: whether each reply ended by itself or at the token limit,
  which a parser asks for with `reply_finished()`;
* `filters.base.drop_record` (through `llm_failures.failed_request_drop`): the drop of a
  row whose request failed for itself.

The rows are built from the public `format_output`, one call per generation, as distilabel
1.5.3's `Task.process` builds them: the input's columns, the formatted output, its
`distilabel_metadata` (`raw_output_<step>` and `raw_input_<step>` when `add_raw_output` /
`add_raw_input`, `statistics_<step>` from the LLM), `model_name` (with a `ModelMix`, the
model that answered the prompt), one row per generation or one grouped row
(`group_generations`). A reply `format_output` cannot parse gives, as in distilabel, the
row with the task's outputs `None` and the raw output kept. The LLM's extra outputs (such
as `logprobs`) go to `complete_row`, and what it leaves becomes distilabel's column
`llm_<step>_<key>` (`compat.distilabel_task_logprobs` owns that name).

(No `from __future__ import annotations` here: distilabel finds a step's input by the live
`StepInput` annotation of `process`.)
"""

import functools
import random
from collections import Counter
from pathlib import Path
from typing import Any, ClassVar, Optional

from distilabel.constants import DISTILABEL_METADATA_KEY
from distilabel.mixins.runtime_parameters import RuntimeParameter
from distilabel.steps import StepInput
from distilabel.steps.tasks import Task
from distilabel.steps.tasks.base import iterate_generations_with_stats, normalize_statistics
from distilabel.typing import StepOutput
from distilabel.utils.dicts import group_dicts
from pydantic import Field, PrivateAttr

from distilabel_selfinstruct import usage
from distilabel_selfinstruct.bootstrap.run import BootstrapRun
from distilabel_selfinstruct.bootstrap.stages import Stage
from distilabel_selfinstruct.bootstrap.stop import stream_has_ended
from distilabel_selfinstruct.compat.distilabel_task_logprobs import llm_extra_column
from distilabel_selfinstruct.concurrency import (
    RequestSlots,
    RequestStream,
    Retries,
    can_stream,
    client_retries_off,
    quiet_http_logs,
)
from distilabel_selfinstruct.generation import finished_flags
from distilabel_selfinstruct.llm_failures import ServerFailures, failed_request_drop
from distilabel_selfinstruct.loop_pipeline import JoinsLoopPipeline
from distilabel_selfinstruct.model_mix import ModelMix
from distilabel_selfinstruct.pool import sqlite_path


class LLMTask(JoinsLoopPipeline, Task):
    """A distilabel `Task` that keeps up to `max_concurrency` LLM requests in flight across
    batches, ends the run when its LLM's server fails, and counts its LLM usage (see the
    module docstring).

    With `max_concurrency` > 1 and an async LLM (`OpenAILLM` and the other `AsyncLLM`s),
    `process` does not wait for the batch: it sends the batch's requests and yields the rows
    of every request that has completed by then, from this batch or earlier ones, blocking
    only while `max_concurrency` of its requests are unanswered. Otherwise it sends one
    batch at a time, as distilabel does. A streamed request that still fails after its
    retries and is not the server's failure drops its row with reason `llm_request_failed`
    (stage `failed_request_stage`), counted in the summary's drops and `llm_errors`.

    Attributes:
        max_concurrency: LLM requests in flight at most, shared by the run's LLM steps when
            they have a run directory; 1 sends one batch at a time, as distilabel does.
        run: the run's `BootstrapRun`: where a server failure is recorded, usage counted and
            drops logged, and whose directory holds the request slots the run's LLM steps
            share. Without it the task keeps distilabel's behaviour (the outputs of a failed
            request or batch become `None`).

    Runtime parameters:
        - `max_concurrency`: LLM requests in flight at most (async LLMs only).
    """

    max_concurrency: RuntimeParameter[int] = Field(
        default=1,
        description="LLM requests in flight at most, across the run's LLM steps (async LLMs"
        " such as OpenAILLM; 1 = one batch at a time).",
    )
    run: Optional[BootstrapRun] = Field(
        default=None, description="The run whose pool records a failure of the LLM server."
    )
    # The stage a row whose request failed is dropped at: a prompt at generation, an
    # accepted task at instances (it is then lost).
    failed_request_stage: ClassVar[Stage] = Stage.INSTANCES

    _requests: Optional[RequestStream] = PrivateAttr(default=None)
    _retry_limit: int = PrivateAttr(default=0)
    _server: Optional[ServerFailures] = PrivateAttr(default=None)
    _store: Any = PrivateAttr(default=None)
    _finished: Optional[bool] = PrivateAttr(default=None)

    # -- what a task may use or implement ------------------------------------------------

    def complete_row(self, row: dict[str, Any], extra: dict[str, Any]) -> None:
        """The one hook a task may implement; does nothing here.

        Called on each output row once it is built (the input's columns, `format_output`'s,
        `distilabel_metadata`, `model_name`), and on the row of a failed request whose
        outputs are `None` (without a `run`), with `extra` empty. `extra` holds the LLM's
        extra outputs for the row, such as `logprobs` (with `group_generations`, a list per
        key with one item per generation): a task pops what it uses, and what is left
        becomes distilabel's column `llm_<step>_<key>`.
        """

    def reply_finished(self) -> Optional[bool]:
        """For `format_output`: whether the reply it is formatting ended by itself rather
        than at the token limit (`None`: the LLM reported no token counts, or no reply is
        being formatted)."""
        return self._finished

    def take_retries(self) -> Counter[str]:
        """The retries of this step's streamed requests since the last call, by reason."""
        return self._requests.take_retries() if self._requests is not None else Counter()

    @property
    def streams_requests(self) -> bool:
        """Whether `process` keeps requests in flight across batches (`concurrency.can_stream`)."""
        return can_stream(
            self.llm,
            self.max_concurrency,
            self.num_generations,
            mapped=bool(self.input_mappings or self.output_mappings),
        )

    # -- distilabel's step lifecycle -----------------------------------------------------

    def load(self) -> None:
        if self.streams_requests:
            # The step retries streamed requests itself (`concurrency.Retries`).
            with client_retries_off(self.llm) as retries:
                super().load()
            self._retry_limit = retries
            quiet_http_logs()
        else:
            super().load()

    def unload(self) -> None:
        if self._requests is not None:
            self._requests.close()
            self._requests = None
        if self._store is not None:
            self._store.close()
            self._store = None
        super().unload()

    def process_applying_mappings(self, *args: list[dict[str, Any]]) -> StepOutput:
        # distilabel's version maps output rows onto the batch's input rows by position,
        # which rows of earlier batches (and an empty batch) do not have; streaming runs
        # only without mappings, so there is nothing to map.
        if self.streams_requests:
            yield from self.process(args[0])
        else:
            yield from super().process_applying_mappings(*args)

    def process(self, inputs: StepInput) -> StepOutput:  # type: ignore[override]
        """Sends the batch's requests and yields the rows of their replies: streaming, those
        of every request completed by now (from this batch or earlier ones); otherwise this
        batch's, as distilabel's `Task.process`. After a failure of the server it yields no
        rows and the run stops."""
        streaming = self.streams_requests
        try:
            rows = self._streamed_rows(inputs) if streaming else self._batch_rows(inputs)
        except Exception as error:
            self._count_usage([], errors=len(inputs))
            if self._server_failures().stops_run(error) is None:
                raise
            yield []
            return
        if not streaming:
            self._server_failures().succeeded()
        self._count_usage(rows)
        yield rows

    # -- the request path ----------------------------------------------------------------

    def _batch_rows(self, inputs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """One batch at a time, as distilabel sends it."""
        prompts = [self.format_input(row) for row in inputs]
        outputs = self.llm.generate_outputs(
            inputs=prompts,
            num_generations=self.num_generations,
            **self.llm.get_generation_kwargs(),
        )
        # A `ModelMix` answers each prompt with one of its models: name it on the rows.
        models = self.llm.last_models if isinstance(self.llm, ModelMix) else []
        if len(models) != len(inputs):
            models = [self.llm.model_name] * len(inputs)
        rows: list[dict[str, Any]] = []
        for row, prompt, output, model in zip(inputs, prompts, outputs, models, strict=True):
            rows.extend(self._rows_for(row, prompt, output, model))
        return rows

    def _streamed_rows(self, inputs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Sends the batch's requests into the stream; the rows of those completed by now."""
        requests = self._request_stream()
        if inputs and self._stream_ended():
            # Rows that reach the step after the end (its last batches) would only queue
            # requests on the server for tasks the run abandons anyway.
            requests.abandon()
            return []
        kwargs = self.llm.get_generation_kwargs()
        for row in inputs:
            prompt = self.format_input(row)
            request = functools.partial(
                self.llm.agenerate, input=prompt, num_generations=self.num_generations, **kwargs
            )
            requests.submit((row, prompt), request)
        rows: list[dict[str, Any]] = []
        for (row, prompt), reply in requests.completed(self.max_concurrency, self._stream_ended):
            error = reply.exception()
            if error is not None:
                rows.extend(self._request_failed(row, error))
                continue
            self._server_failures().succeeded()
            rows.extend(self._rows_for(row, prompt, reply.result(), self.llm.model_name))
        return rows

    def _request_failed(self, row: dict[str, Any], error: BaseException) -> list[dict[str, Any]]:
        """The rows for a streamed request that failed after its retries: without a run,
        the row with the task's outputs `None`, as distilabel does for a failed batch; with
        one, none (the server's failure leaves the row unfinished for the resume; one
        request's failure drops it, counted)."""
        self._count_usage([], errors=1)
        if self.run is None:
            self._logger.warning(f"⚠️ A request of step '{self.name}' failed: {error}")
            failed = {**row, **dict.fromkeys(self.get_outputs()), "model_name": self.llm.model_name}
            self.complete_row(failed, {})
            return [failed]
        if self._server_failures().stops_run(error) is not None:
            return []
        self._logger.warning(f"⚠️ A request of step '{self.name}' failed after retries: {error}")
        self._pool_store().record_drops([failed_request_drop(row, self.failed_request_stage)])
        return []

    # -- the rows ------------------------------------------------------------------------

    def _rows_for(
        self, row: dict[str, Any], prompt: Any, output: Any, model_name: str
    ) -> list[dict[str, Any]]:
        """The output rows for one input row, the prompt sent for it and the LLM's output
        (`GenerateOutput`): one per generation, or one grouped row."""
        flags = finished_flags(self.llm, output)
        formatted: list[dict[str, Any]] = []
        extras: list[dict[str, Any]] = []
        generations = iterate_generations_with_stats(normalize_statistics(output))
        for index, (generation, statistics, extra) in enumerate(generations):
            self._finished = flags[index] if index < len(flags) else None
            try:
                formatted.append(self._formatted(row, prompt, generation, statistics))
            finally:
                self._finished = None
            extras.append(extra)
        if self.group_generations:
            built = [
                ({**row, **group_dicts(*formatted), "model_name": model_name}, group_dicts(*extras))
            ]
        else:
            built = [
                ({**row, **item, "model_name": model_name}, extra)
                for item, extra in zip(formatted, extras, strict=True)
            ]
        for out, extra in built:
            self.complete_row(out, extra)
            for key, value in extra.items():
                out[llm_extra_column(self.name, key)] = value
        return [out for out, _ in built]

    def _formatted(
        self, row: dict[str, Any], prompt: Any, generation: Optional[str], statistics: Any
    ) -> dict[str, Any]:
        """`format_output` of one generation, with its `distilabel_metadata`; a reply it
        cannot parse gives the task's outputs `None` (distilabel's row for it)."""
        try:
            formatted = self.format_output(generation, row)
        except Exception as error:
            self._logger.warning(
                f"Task '{self.name}' failed to format output: {error}. Saving raw response."
            )
            formatted = dict.fromkeys(self.outputs)
            statistics = None  # as distilabel: such a row carries no statistics
        metadata = formatted.get(DISTILABEL_METADATA_KEY, {})
        if self.add_raw_output:
            metadata[f"raw_output_{self.name}"] = generation
        if self.add_raw_input:
            # The prompt that was sent: `format_input(row)`, which distilabel calls again.
            metadata[f"raw_input_{self.name}"] = prompt if row else None
        if statistics:
            metadata[f"statistics_{self.name}"] = statistics
        if metadata:
            formatted[DISTILABEL_METADATA_KEY] = metadata
        return formatted

    # -- the parts -----------------------------------------------------------------------

    def _request_stream(self) -> RequestStream:
        if self._requests is None:
            self._requests = RequestStream(
                RequestSlots(self.max_concurrency, self._slots_directory()),
                self.max_concurrency,
                Retries(self._retry_limit, random.Random(f"retries:{self.name}")),
            )
        return self._requests

    def _server_failures(self) -> ServerFailures:
        if self._server is None:
            self._server = ServerFailures(self.llm, self.run, self._logger)
        return self._server

    def _pool_store(self) -> Any:
        """The run's pool store, opened on first use (needs `run`)."""
        assert self.run is not None
        if self._store is None:
            self._store = self.run.open_store()
        return self._store

    def _slots_directory(self) -> Optional[Path]:
        """Where the run's shared request slots live; `None`: this step's own bound."""
        # The slots are a pipe beside a local pool; with a pool on a server the stages may
        # run on different machines, and each keeps its own bound.
        if self.run is None or self.run.networked_pool:
            return None
        return sqlite_path(self.run.pool_path).parent

    def _stream_ended(self) -> bool:
        """Whether the run's stream has ended, so replies still awaited will not be used."""
        # Without this, a step blocked on its window at the end waits for replies to
        # tasks the run no longer needs: minutes on a server that answers one at a time.
        if self.run is None:
            return False
        return stream_has_ended(self._pool_store(), self.run.num_instructions)

    def _count_usage(self, rows: list[dict[str, Any]], errors: int = 0) -> None:
        """Adds the calls and tokens of `rows`, `errors` failed requests and the retries
        since the last count to the run's counters."""
        if self.run is None:
            return
        counts = usage.step_counters(self.name, rows, errors, self.take_retries())
        if counts:
            self._pool_store().increment_many(counts)
