"""Self-Instruct (Wang et al., 2022) as distilabel steps."""

from distilabel_selfinstruct import _distilabel_compat

# Pipelines with filter steps hang on distilabel 1.5 without it; see the module docstring.
_distilabel_compat.apply()

__version__ = "0.1.0"
