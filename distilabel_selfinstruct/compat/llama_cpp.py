"""The logits of the last evaluated token, read from llama-cpp-python without `logits_all`.

llama-cpp-python only returns log-probabilities when the model was loaded with
`logits_all=True`, which keeps logits for every prompt token (GBs for a 262K vocabulary).
The Yes/No comparison needs only the last token's: `Llama.eval` asks llama.cpp for those
(its batch marks the last token for logits) and leaves them in the context, but keeps no
copy (`Llama.scores` stays empty without `logits_all`). `last_token_logits` reads them
through the public `Llama.ctx` pointer and the low-level binding `llama_get_logits_ith`
instead of the private `Llama._ctx` the code used before; that `eval` leaves them there is
the behaviour this relies on.

Guard: checked on llama-cpp-python `LLAMA_CPP_RANGE` (`llama_cpp.__version__`). Outside it
the first call warns once (`RuntimeWarning`) and carries on. Whatever the version, a missing
`Llama.ctx` or `llama_get_logits_ith`, or no logits for the last token (a NULL pointer),
raises `LlamaCppCompatError` naming the installed version, instead of reading garbage.
"""

from __future__ import annotations

from typing import Any

from distilabel_selfinstruct.compat._guard import format_range, warn_if_unchecked

NAME = "llama_cpp"
LLAMA_CPP_RANGE = ((0, 3, 16), (0, 4))


class LlamaCppCompatError(RuntimeError):
    """This llama-cpp-python can't hand over the last token's logits the way we read them."""


def last_token_logits(model: Any) -> Any:
    """The logits (a float64 numpy array over the vocabulary) of the last token that
    `model.eval` evaluated, for a `llama_cpp.Llama` loaded without `logits_all`."""
    import llama_cpp
    import numpy as np

    version = str(getattr(llama_cpp, "__version__", "unknown"))
    warn_if_unchecked(
        NAME,
        "llama-cpp-python",
        version,
        LLAMA_CPP_RANGE,
        "the versions next-token log-probabilities were checked on",
    )
    get_logits_ith = getattr(llama_cpp, "llama_get_logits_ith", None)
    try:
        context = model.ctx
    except AttributeError:
        context = None
    if get_logits_ith is None or context is None:
        raise LlamaCppCompatError(
            f"llama-cpp-python {version} has no `Llama.ctx` or `llama_cpp.llama_get_logits_ith`, "
            f"needed for next-token log-probabilities (checked on {format_range(*LLAMA_CPP_RANGE)})"
        )
    pointer = get_logits_ith(context, -1)
    if not pointer:
        raise LlamaCppCompatError(
            f"llama-cpp-python {version} kept no logits for the last evaluated token (checked "
            f"on {format_range(*LLAMA_CPP_RANGE)}; see {__name__})"
        )
    return np.ctypeslib.as_array(pointer, shape=(model.n_vocab(),)).astype(np.float64)
