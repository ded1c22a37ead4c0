"""A static (model2vec-style) embedding derived from all-MiniLM-L6-v2, for huge corpora.

A text's vector is the weighted sum of one fixed vector per WordPiece token: no transformer
runs, so it embeds thousands of texts a second, at the cost of recall (word order and context
are lost). Measured on gtmflow's paraphrased retrieval sets: recall@5 0.65 and 0.80 against
MiniLM's 0.95 and 1.00 and lexical hashing's 0.15 and 0.40 (`benchmarks/context.py`). Use it
when a corpus is too large to embed with the model; the default stays MiniLM.

The table is derived from the verified MiniLM model, the way model2vec distils one:

1. every vocabulary token is embedded alone (`[CLS] token [SEP]`, mean-pooled);
2. the rows are centred and projected on their first 256 principal components (fitted on
   whole-word tokens, ids from 1996), each component's sign fixed so its largest loading is
   positive, so every machine derives the same space;
3. each row is weighted by `log(2 + token id)`, model2vec's Zipf weighting, which damps the
   frequent tokens that WordPiece numbers first.

Deriving takes ~10 s on 2 cores once; the table (15 MB, float16) is cached under
`~/.cache/gtmflow/` (or `$XDG_CACHE_HOME/gtmflow`, or `cache_dir=`), named by the model's
sha256 and the recipe version.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from chromadb.utils.embedding_functions import register_embedding_function
from numpy.typing import NDArray

from gtmflow.tools.context.embeddings import (
    MINILM_INT8_SHA256,
    MINILM_MODEL_ID,
    GtmflowEmbedding,
    MiniLMEmbedding,
    Vectors,
)

__all__ = ["STATIC_RECIPE", "StaticEmbedding", "default_cache_dir"]

STATIC_RECIPE = "pca256-zipf-v1"
_VOCAB_SIZE = 30522
_FIRST_WORD_ID = 1996  # "the": ids below are special, unused and single-character tokens
_SPECIAL = frozenset({0, 100, 101, 102, 103})  # [PAD] [UNK] [CLS] [SEP] [MASK]


def default_cache_dir() -> Path:
    """`$XDG_CACHE_HOME/gtmflow`, else `~/.cache/gtmflow`."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "gtmflow"


@register_embedding_function
class StaticEmbedding(GtmflowEmbedding):
    """Static token vectors distilled from all-MiniLM-L6-v2: 256 dimensions, very fast.

    Example:
        >>> StaticEmbedding.model_id  # recorded in collection metadata
        'static-all-MiniLM-L6-v2-pca256-zipf-v1'
    """

    model_id = f"static-{MINILM_MODEL_ID}-{STATIC_RECIPE}"
    dimension = 256

    def __init__(
        self, *, cache_dir: str | Path | None = None, source: MiniLMEmbedding | None = None
    ) -> None:
        """`cache_dir`: where the derived table is kept; `source`: the model to derive it from."""
        self._cache_dir = Path(cache_dir) if cache_dir is not None else None
        self._source = source or MiniLMEmbedding()

    @staticmethod
    def name() -> str:
        return "gtmflow_static"

    def get_config(self) -> dict[str, Any]:
        return {"cache_dir": str(self._cache_dir) if self._cache_dir else None}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> StaticEmbedding:
        return StaticEmbedding(cache_dir=config.get("cache_dir"))

    @property
    def cache_path(self) -> Path:
        """The table's file: one per model digest and recipe."""
        folder = self._cache_dir or default_cache_dir()
        return folder / f"static-minilm-{MINILM_INT8_SHA256[:12]}-{STATIC_RECIPE}.npy"

    def embed(self, texts: Sequence[str]) -> Vectors:
        table = self.table
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, ids in enumerate(self._source.token_ids(texts, truncate=False)):
            kept = [i for i in ids if i not in _SPECIAL]
            if kept:
                out[row] = table[kept].astype(np.float32).sum(axis=0)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return np.asarray(out / np.where(norms == 0, 1.0, norms), dtype=np.float32)

    @cached_property
    def table(self) -> NDArray[np.float16]:
        """The `(30522, 256)` token table, loaded from the cache or derived (then cached)."""
        path = self.cache_path
        if path.exists():
            table = np.load(path, allow_pickle=False)
            if table.shape == (_VOCAB_SIZE, self.dimension):
                return np.asarray(table, dtype=np.float16)
        table = derive_table(self._source, self.dimension)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.tmp.npy")
        np.save(partial, table, allow_pickle=False)
        partial.replace(path)  # atomic: a concurrent reader sees the old state or the whole file
        return table


def derive_table(source: MiniLMEmbedding, dimension: int = 256) -> NDArray[np.float16]:
    """Distil the static table from `source` (see the module docstring for the recipe)."""
    tokens = [[101, token, 102] for token in range(_VOCAB_SIZE)]
    source = MiniLMEmbedding.build_from_config({**source.get_config(), "batch_size": 1024})
    vectors = np.zeros((_VOCAB_SIZE, source.dimension), dtype=np.float32)
    for start in range(0, _VOCAB_SIZE, 1024):
        vectors[start : start + 1024] = source.embed_token_ids(tokens[start : start + 1024])
    centred = vectors - vectors[_FIRST_WORD_ID:].mean(axis=0)
    _, _, components = np.linalg.svd(centred[_FIRST_WORD_ID:], full_matrices=False)
    axes = components[:dimension]
    signs = np.sign(axes[np.arange(dimension), np.abs(axes).argmax(axis=1)])
    projected = centred @ (axes * signs[:, None]).T
    weights = np.log(2.0 + np.arange(_VOCAB_SIZE, dtype=np.float32))
    return np.asarray(projected * weights[:, None], dtype=np.float16)
