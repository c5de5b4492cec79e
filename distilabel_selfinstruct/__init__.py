"""Self-Instruct (Wang et al., 2022) as distilabel steps."""

from distilabel_selfinstruct import compat

# Pipelines with filter steps hang on distilabel 1.5 without it; see compat/. Applied at
# import because distilabel imports this package when it loads a YAML naming our steps.
compat.apply_patches()

__version__ = "0.1.0"
