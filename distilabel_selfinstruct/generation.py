"""What an LLM task asks of whatever distilabel LLM the user passes, and what its replies say.

`apply_default_generation_kwargs` fills in a task's sampling defaults where the user left
them unset; `finished_flags` tells, per reply, whether it ended by itself or at the token
limit (`llm_task.LLMTask.reply_finished` hands it to a task's parser).
"""

from __future__ import annotations

from typing import Any, Optional

from distilabel.models.llms.base import LLM

from distilabel_selfinstruct.compat.distilabel_openai_stop import carry_stop
from distilabel_selfinstruct.model_mix import ModelMix, mixed_llms


def _accepts(annotation: Any, value: Any) -> bool:
    """Whether a default fits the parameter's annotation (checked on its text: clients
    annotate with Optional/Union/Annotated forms)."""
    text = str(annotation)
    if isinstance(value, list):
        return "List" in text or "list" in text or "Sequence" in text
    if isinstance(value, bool) or not isinstance(value, int):
        return True
    return "int" in text or "float" in text or "Any" in text or text == "<class 'inspect._empty'>"


def apply_default_generation_kwargs(llm: LLM, defaults: dict[str, Any]) -> None:
    """Fills in the task's defaults for the generation kwargs the user left unset.

    Only keys the LLM's `generate` accepts, with values of a type it accepts, are set (e.g.
    Groq's `stop` takes one string, not a list), and the user's values always win. A numeric
    `logprobs` default becomes `logprobs=True, top_logprobs=N` for OpenAI-style clients,
    whose `logprobs` is a switch. The stop sequences also go in `extra_body` where the
    client would drop them (`compat.distilabel_openai_stop`).
    """
    if isinstance(llm, ModelMix):
        for model in mixed_llms(llm):
            apply_default_generation_kwargs(model, defaults)
        return
    parameters = {parameter.name: parameter for parameter in llm.generate_parameters}
    current = dict(llm.generation_kwargs or {})
    for key, value in defaults.items():
        if key not in parameters or key in current:
            continue
        annotation = parameters[key].annotation
        if key == "logprobs" and isinstance(value, int) and str(annotation) == "<class 'bool'>":
            current["logprobs"] = True
            if "top_logprobs" in parameters and "top_logprobs" not in current:
                current["top_logprobs"] = value
            continue
        if _accepts(annotation, value):
            current[key] = value
    llm.generation_kwargs = carry_stop(llm, current)


def finished_flags(llm: LLM, outputs: dict[str, Any]) -> list[Optional[bool]]:
    """Per generation: did the reply end by itself (stop sequence or end of text) rather
    than at the token limit? Clients leave the stop string out of the text, so this is the
    only reliable sign that a reply's last item is complete."""
    # A mix: the smallest limit of its models (a reply may be taken as cut, never as whole
    # when it was cut).
    limits = [(model.generation_kwargs or {}).get("max_new_tokens") for model in mixed_llms(llm)]
    limit = min(limits) if all(limits) else None
    statistics = outputs.get("statistics") or {}
    tokens = statistics.get("output_tokens") or []
    if not isinstance(tokens, list):
        tokens = [tokens]
    if not limit:
        return [None] * len(tokens)
    return [None if count is None else count < limit for count in tokens]
