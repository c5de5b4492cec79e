"""Where distilabel 1.5 puts an LLM's log-probabilities (or any other extra output) in a row.

`LLM.generate_outputs` returns, besides `generations` and `statistics`, extra keys such as
`logprobs`. distilabel does not pass them to the public `Task.format_output`; the private
`Task._format_outputs` -> `Task._create_extra` adds each one to the task's output rows as a
column named `llm_{step name}_{key}`, after `format_output` has run. That name is
distilabel's private convention: this module is the one place that knows it
(`llm_extra_column`).

Our tasks build their rows themselves from the public `format_output`
(`llm_task.LLMTask`): they hand the extra outputs to the task's `complete_row` hook
(`IdentifyClassification` reads `logprobs` there) and, for what the hook leaves, name the
column as distilabel would, with `llm_extra_column`, so a row keeps the shape distilabel
gives it.

Guard: checked on distilabel `DISTILABEL_RANGE`. Outside it, the first use warns once (a
`RuntimeWarning`) that the column name is unverified, and keeps using it; if distilabel
renamed it, our rows name the column differently from distilabel's own tasks.
tests/compat/test_distilabel_task_logprobs.py runs a real `Task.process` and fails on a
rename.
"""

from __future__ import annotations

from distilabel_selfinstruct.compat._guard import warn_if_unchecked

NAME = "distilabel_task_logprobs"
DISTILABEL_RANGE = ((1, 5, 3), (1, 6))


def llm_extra_column(step_name: str, key: str) -> str:
    """The column in which distilabel puts the LLM's extra output `key` for step `step_name`."""
    import distilabel

    warn_if_unchecked(
        NAME,
        "distilabel",
        distilabel.__version__,
        DISTILABEL_RANGE,
        "where the column `llm_{step}_{key}` that carries an LLM's extra outputs (such as "
        "log-probabilities) was checked; if it changed, our rows name it differently",
    )
    return f"llm_{step_name}_{key}"
