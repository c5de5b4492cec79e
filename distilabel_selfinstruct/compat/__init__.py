"""Every use of a library's private internals, in one place, each guarded by the versions it
was checked against and each with a test (tests/compat/) that fails without it.

Importing any module of the package changes nothing in distilabel. The three fixes of
distilabel's pipeline internals are scoped to the pipelines that contain our steps: they are
overrides in subclasses of distilabel's pipeline classes made by
`pipeline.with_loop_fixes`: `distilabel_selfinstruct.loop_pipeline.SelfInstructPipeline` and
the Ray ones there, and a plain `Pipeline` becomes one when a step of ours
joins it (`pipeline.adopt`). docs/upstream.md gives each bug with a reproduction on plain
distilabel and the patch we would send upstream.

* `distilabel_batch_manager`, distilabel >=1.5.3,<1.6: our pipelines' batch manager steps
  are `FlushingBatchManagerStep`s, whose `_ready_to_create_batch_normal` passes on a last
  batch that arrives empty (a filter dropped all its rows) instead of hanging
  `Pipeline.run`, and lets an empty batch flush what is buffered before it. Used only if
  the original method's source still hashes to the 1.5.3 code; otherwise one
  `RuntimeWarning`.
* `distilabel_pipeline_cache`, distilabel >=1.5.3,<1.6: before distilabel's
  `_refresh_pipeline_from_cache`, a cached `pipeline.yaml` cut short by a kill (distilabel
  rewrites it in place after every batch and reads it back on every `run()`) is set aside
  with one warning instead of failing every later run. Same guard.
* `distilabel_cache_writes`, distilabel >=1.5.3,<1.6: our pipelines' `_cache_location`
  (property) and `_cache` dump the pipeline and write `pipeline.yaml` once per run instead
  of five dumps per batch (64 % of a run's CPU against an HTTP server). Same guard.
* `distilabel_task_logprobs`, distilabel >=1.5.3,<1.6: distilabel puts the LLM's extra
  outputs (log-probabilities) in a row column named by the private `Task._create_extra`,
  `llm_{step name}_{key}`. Our tasks build their rows from the public `format_output`
  (`llm_task.LLMTask`), hand the extra outputs to the task's `complete_row` hook
  (`IdentifyClassification`'s Yes/No score) and name what is left as distilabel does
  (`llm_extra_column`). Applied by use; outside the range it warns once and keeps the name.
* `distilabel_openai_stop`, distilabel >=1.5.3,<1.6: `OpenAILLM` drops `stop` for a
  plain-text (completion) prompt; `carry_stop` puts it into the public `extra_body` too.
  Used by `generation.apply_default_generation_kwargs`; outside the range it warns once
  and still carries it.
* `llama_cpp`, llama-cpp-python >=0.3.16,<0.4: `last_token_logits(model)` reads the logits
  `Llama.eval` leaves for the last evaluated token, through the public `Llama.ctx` pointer
  and the `llama_get_logits_ith` binding (not the private `Llama._ctx`), raising
  `LlamaCppCompatError` naming the version when that is not possible. Applied by use;
  outside the range it warns once and still tries.
* `argilla`, argilla >=2.8,<3: `argilla_errors()` returns the SDK's exception classes, which
  argilla only defines in its private `argilla._exceptions`; if that module or a class is
  gone it raises `ArgillaCompatError` naming the version. Applied by use; outside the range
  it warns once and still tries.

`$SELFINSTRUCT_DISABLE_COMPAT` (comma-separated module names) turns off the pipeline fixes
(`distilabel_batch_manager`, `distilabel_pipeline_cache`, `distilabel_cache_writes`) and the
Ray one (`distilabel_ray`).
"""

from __future__ import annotations

from distilabel_selfinstruct.compat._guard import DISABLE_ENV

__all__ = ["DISABLE_ENV"]
