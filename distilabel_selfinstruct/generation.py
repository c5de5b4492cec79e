"""Per-task sampling defaults for whatever distilabel LLM the user passes."""

from __future__ import annotations

from typing import Any

from distilabel.models.llms.base import LLM


def apply_default_generation_kwargs(llm: LLM, defaults: dict[str, Any]) -> None:
    """Fills in the task's defaults for the generation kwargs the user left unset.

    Only keys that the LLM's `generate` accepts are set (e.g. `stop` exists for llama.cpp
    completions and OpenAI, not for every client), and the user's values always win.
    """
    accepted = {parameter.name for parameter in llm.generate_parameters}
    current = dict(llm.generation_kwargs or {})
    for key, value in defaults.items():
        if key in accepted and key not in current:
            current[key] = value
    llm.generation_kwargs = current
