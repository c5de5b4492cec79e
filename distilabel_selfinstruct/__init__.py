"""Self-Instruct (Wang et al., 2022) as distilabel steps.

Importing the package (or any module of it) changes nothing in distilabel: the fixes our
loop needs are scoped to the pipelines that contain our steps (`SelfInstructPipeline`; see
`distilabel_selfinstruct.compat`). The package root imports nothing heavy, so the local
Argilla launcher runs with the standard library alone.
"""

from typing import Any

__version__ = "0.1.0"

__all__ = ["SelfInstructPipeline", "__version__"]


def __getattr__(name: str) -> Any:
    # Imported on first use: it needs distilabel, the package root does not.
    if name == "SelfInstructPipeline":
        from distilabel_selfinstruct.loop_pipeline import SelfInstructPipeline

        return SelfInstructPipeline
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
