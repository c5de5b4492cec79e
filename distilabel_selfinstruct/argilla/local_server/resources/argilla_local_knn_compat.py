"""k-NN compatibility shim that the argilla-local launcher copies into the server's own venv.

Argilla 2.8 creates every OpenSearch records index with ``index.knn: false`` and maps
vector fields as ``knn_vector`` with an HNSW ``method`` (lucene engine). The k-NN plugin
rejects that combination for indices created on OpenSearch >= 2.17 ("Cannot set modelId
or method parameters when index.knn setting is false"), and Maven Central only carries
k-NN 2.19.1.0 and later, so datasets with vector settings could not be published.

This module sets ``index.knn: true`` instead. With the pure-Java lucene engine that
Argilla asks for, no native k-NN library is involved. Nothing else in Argilla changes.

It is loaded by ``argilla_local_knn_compat.pth`` at interpreter start-up and only
registers an import hook: the patch is applied when Argilla imports its OpenSearch engine.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys
from types import ModuleType
from typing import Any, Optional, Sequence

TARGET = "argilla_server.search_engine.opensearch"


def patch(module: ModuleType) -> None:
    """Make the engine's index settings enable k-NN."""
    engine = module.OpenSearchEngine
    original = engine._configure_index_settings

    def _configure_index_settings(self: Any) -> dict:
        return {**original(self), "index.knn": True}

    engine._configure_index_settings = _configure_index_settings


class PatchOnImport(importlib.abc.MetaPathFinder):
    """Patch TARGET right after it is executed, then step out of the import system."""

    def find_spec(
        self, fullname: str, path: Optional[Sequence[str]], target: Optional[ModuleType] = None
    ) -> Optional[importlib.machinery.ModuleSpec]:
        if fullname != TARGET:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None:
            return spec
        execute = spec.loader.exec_module

        def exec_module(module: ModuleType) -> None:
            execute(module)
            patch(module)

        spec.loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def install() -> None:
    if TARGET in sys.modules:
        patch(sys.modules[TARGET])
    elif not any(isinstance(finder, PatchOnImport) for finder in sys.meta_path):
        sys.meta_path.insert(0, PatchOnImport())


install()
