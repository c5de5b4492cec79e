"""Every use of a library's private internals, in one place, each guarded by the versions it
was checked against and each with a test (tests/compat/) that fails without it.

* `distilabel_batch_manager`, distilabel >=1.5.3,<1.6: replaces the private
  `_BatchManagerStep._ready_to_create_batch_normal` so that a last batch arriving empty
  (a filter dropped all its rows) is passed on instead of hanging `Pipeline.run`. Applied
  when the package is imported (`apply_patches`, from `distilabel_selfinstruct/__init__.py`),
  only if the original method's source still hashes to the 1.5.3 code; otherwise skipped
  with one `RuntimeWarning`.
* `distilabel_pipeline_cache`, distilabel >=1.5.3,<1.6: wraps the private
  `BasePipeline._refresh_pipeline_from_cache` so that a cached `pipeline.yaml` cut short by
  a kill (distilabel rewrites it in place after every batch and reads it back on every
  `run()`) is set aside with one warning instead of failing every later run. Applied at
  import, with the same version and source-hash guard as the batch manager fix.
* `distilabel_cache_writes`, distilabel >=1.5.3,<1.6: replaces the private
  `BasePipeline._cache_location` (property) and `BasePipeline._cache` so that the pipeline
  is dumped and `pipeline.yaml` written once per run instead of five dumps per batch (64 %
  of a run's CPU against an HTTP server). Applied at import, same guard.
* `distilabel_task_logprobs`, distilabel >=1.5.3,<1.6: distilabel hands a task the LLM's
  extra outputs (log-probabilities) only as a row column named by the private
  `Task._create_extra`, `llm_{step name}_{key}`. `process_reading_llm_extra` builds the
  public `process` override that pops that column; `IdentifyClassification` uses it for
  its Yes/No score. Applied by use; outside the range it warns once and keeps the name.
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

`$SELFINSTRUCT_DISABLE_COMPAT` (comma-separated module names) turns off the import-time
patches (`distilabel_batch_manager`, `distilabel_pipeline_cache`,
`distilabel_cache_writes`); the tests use it to show the bugs.
"""

from __future__ import annotations

from distilabel_selfinstruct.compat._guard import DISABLE_ENV

__all__ = ["DISABLE_ENV", "apply_patches"]


def apply_patches() -> dict[str, str]:
    """Installs the import-time patches; returns what each did (see its module)."""
    from distilabel_selfinstruct.compat import (
        distilabel_batch_manager,
        distilabel_cache_writes,
        distilabel_pipeline_cache,
    )

    return {
        distilabel_batch_manager.NAME: distilabel_batch_manager.apply(),
        distilabel_pipeline_cache.NAME: distilabel_pipeline_cache.apply(),
        distilabel_cache_writes.NAME: distilabel_cache_writes.apply(),
    }
