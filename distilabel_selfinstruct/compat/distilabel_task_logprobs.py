"""How a distilabel 1.5 task gets at its LLM's log-probabilities (or any other extra output).

`LLM.generate_outputs` returns, besides `generations` and `statistics`, extra keys such as
`logprobs`. distilabel does not pass them to the public `Task.format_output`; the private
`Task._format_outputs` -> `Task._create_extra` adds each one to the task's output rows as a
column named `llm_{step name}_{key}`, after `format_output` has run. That name is the only
handle, and it is distilabel's private convention: this module is the one place that knows
it (`llm_extra_column`).

`process_reading_llm_extra(key, use)` builds a `process` for a `Task` subclass: it runs the
parent's public `process` and, for every row it yields, pops the column and calls
`use(task, row, value)` (value `None` when the LLM returned none). It is built here, not
written in the task's module, because distilabel finds the step's input by the *live*
`StepInput` annotation of `process`, which `from __future__ import annotations` would turn
into a string.

Guard: checked on distilabel `DISTILABEL_RANGE`. Outside it, the first use warns once (a
`RuntimeWarning`) that the column name is unverified, and keeps using it; if distilabel
renamed it, the column is simply absent and `use` receives `None` (for
`IdentifyClassification`: the parsed Yes/No answer decides, as without log-probabilities).
tests/compat/test_distilabel_task_logprobs.py runs a real `Task.process` and fails on a
rename.
"""

from typing import Any, Callable

from distilabel.steps import StepInput
from distilabel.typing import StepOutput

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
        "where the column `llm_{step}_{key}` that carries an LLM's log-probabilities to a task "
        "was checked; if it changed, log-probabilities are ignored",
    )
    return f"llm_{step_name}_{key}"


def process_reading_llm_extra(
    key: str, use: Callable[[Any, dict[str, Any], Any], None]
) -> Callable[[Any, StepInput], StepOutput]:
    """A `process` method that hands each output row's extra output `key` (popped from the
    row) to `use(task, row, value)`. With `group_generations`, the row's values, that one
    included, are lists with one item per generation."""

    # No `from __future__ import annotations` in this module: distilabel reads `StepInput`.
    def process(self: Any, inputs: StepInput) -> StepOutput:
        column = llm_extra_column(self.name, key)
        # The class whose `process` this is: the parent's comes next in the MRO.
        owner = next(cls for cls in type(self).__mro__ if cls.__dict__.get("process") is process)
        for rows in super(owner, self).process(inputs):
            for row in rows:
                use(self, row, row.pop(column, None))
            yield rows

    process.__doc__ = (
        f"The parent's `process`, then the LLM's `{key}` of each row to `{use.__name__}`."
    )
    return process
