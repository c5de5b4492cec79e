"""The one place prompt templates are loaded from.

Every prompt the package sends lives in a Jinja2 file under `templates/`, so prompts can be
read, diffed and overridden without touching code.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

from jinja2 import Environment, StrictUndefined, Template

TEMPLATE_PACKAGE = "distilabel_selfinstruct.templates"


@cache
def load_template(name: str) -> Template:
    """Returns the compiled template `templates/<name>.jinja2`.

    Undefined variables raise instead of rendering as empty text: a missing demonstration
    would otherwise silently change the prompt.
    """
    source = resources.files(TEMPLATE_PACKAGE).joinpath(f"{name}.jinja2").read_text("utf-8")
    environment = Environment(undefined=StrictUndefined, autoescape=False)
    return environment.from_string(source)


def render_prompt(name: str, **context: Any) -> str:
    """Renders the template `name` with `context`."""
    return load_template(name).render(**context)


def as_llm_input(prompt: str, prompt_style: str) -> Any:
    """A rendered prompt as the LLM takes it: the text itself for `completion` (a document
    to continue), one user message for `chat`."""
    if prompt_style == "completion":
        return prompt
    return [{"role": "user", "content": prompt}]
