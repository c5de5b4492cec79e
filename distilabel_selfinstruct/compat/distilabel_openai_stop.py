"""distilabel 1.5's `OpenAILLM` drops the stop sequences of a plain-text (completion) prompt.

`OpenAILLM.agenerate` takes `stop` and passes it on for chat messages, but for a string
prompt it calls the completions endpoint without it (`_generate_completion` has no `stop`
parameter). A base model then runs past the end of its answer: against llama.cpp's server
the default gemma-3-270m wrote "... Output: ...\\n\\nTask: Write an email ..." where the
stop sequence `Task:` should have ended the reply, and no task of a 3-task run survived the
instance parser.

`carry_stop(llm, kwargs)` puts the stop sequences into `extra_body` too, a public
parameter that both endpoints send as part of the request body (for chat messages the
same `stop` twice, one value). Only the public API is used; it is here because it works
around one library version's behaviour.

Guard: checked on distilabel `DISTILABEL_RANGE`. Outside it, the first use warns once (a
`RuntimeWarning`) and still carries the stop sequences, which is harmless where distilabel
passes them itself. tests/compat/test_distilabel_openai_stop.py sends a completion prompt
to a local server and fails when `stop` does not reach it.
"""

from __future__ import annotations

from typing import Any

from distilabel_selfinstruct.compat._guard import warn_if_unchecked

NAME = "distilabel_openai_stop"
DISTILABEL_RANGE = ((1, 5, 3), (1, 6))


def carry_stop(llm: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
    """`kwargs` (an LLM's generation kwargs) with its `stop` also in `extra_body`, for an
    `OpenAILLM` (and subclasses); unchanged for other LLMs or without `stop`."""
    from distilabel.models.llms import OpenAILLM

    stop = kwargs.get("stop")
    if not stop or not isinstance(llm, OpenAILLM):
        return kwargs
    import distilabel

    warn_if_unchecked(
        NAME,
        "distilabel",
        distilabel.__version__,
        DISTILABEL_RANGE,
        "where OpenAILLM was checked to drop `stop` for completion prompts",
    )
    extra = dict(kwargs.get("extra_body") or {})
    extra.setdefault("stop", stop)
    return {**kwargs, "extra_body": extra}
