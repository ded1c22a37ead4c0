"""The rules analyser's sentence classifier: a logistic-regression head over MiniLM features.

Cue lexicons are precise but miss paraphrases ("it eats half their morning" is a pain without a
pain word). This head embeds each sentence with the first of the six transformer layers of the
offline MiniLM (`FirstLayersMiniLM`, cut from `gtmflow.tools.context.embeddings`' verified
model, mean-pooled) and scores it per category with one logistic regression each, trained on
gtmflow's own labelled sales calls (`training/calls/`, written for gtmflow and independent of the
held-out evaluation calls in `benchmarks/data/`). The analyser adds the score to the sentence's
cue score, so a confident head labels a sentence on its own, a hesitant one tips a weak cue over
the line, and a negation cue still vetoes.

The shipped weights (`data/sentence_head.json`, 6 x 385 numbers) are what
`python training/train_sentence_head.py` writes; a test retrains them and compares. Train a head
on your own labelled sentences and use it instead:

```python
from gtmflow.agents.sentence_head import SentenceHead, default_head
from gtmflow.agents.transcript_analyst import TranscriptAnalyst

embedder = default_head().embedder  # MiniLM's first layer, loaded once
head = SentenceHead.train(embedder, texts, labels, sellers=said_by_seller)  # your calls
head.save("my_head.json")
analyst = TranscriptAnalyst(classifier=SentenceHead.load("my_head.json", embedder))
```

Measured (`python benchmarks/agents.py`): micro F1 0.80 on the held-out calls against 0.56 for
the lexicons alone and 0.79 for the whole model's sentence embedding. Grouped 5-fold
cross-validation on the training calls (`python training/train_sentence_head.py`) chose the
layers (micro F1 0.751 with one layer, 0.763 with two, 0.768 with three, 0.778 with four, 0.735
with all six: the fewest that do as well as six), the L2 strength and the threshold. On the speed
benchmark's 20 AMI meetings the analyser with this head read 6,800 words per CPU-second (9,400
per wall-second, load 1.4-2.3) against 2,000 (3,500) with the whole-model head
(benchmarks/RESULTS.md, "Issue 13 speed, session 5").

A head can carry a `Screen`, the first stage of a cascade: the same regressions on the static
table (`StaticEmbedding`, no transformer); a sentence it scores outside its uncertain band in
every category takes its vote, and only the others reach MiniLM
(`train_sentence_head.py --screen`). The shipped head has none: with the whole model, the screen
the trainer chose sent 4,265 of the speed benchmark's 8,588 sentences (75,947 of 132,471 tokens)
to MiniLM, 1.2-1.4x the words per CPU-second, but the held-out micro F1 fell from 0.79 to 0.76.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from gtmflow.errors import ConfigError, GtmflowWarning
from gtmflow.tools.context.embeddings import MINILM_INT8_SHA256, MINILM_MODEL_ID, MiniLMEmbedding

__all__ = [
    "CATEGORIES",
    "HEAD_LAYERS",
    "HEAD_PATH",
    "PROSPECT_ONLY",
    "FirstLayersMiniLM",
    "Screen",
    "SentenceHead",
    "default_head",
    "uncertain_rows",
]

CATEGORIES = ("pain", "objection", "buying_signal", "next_step", "authority", "budget")
PROSPECT_ONLY = frozenset({"pain", "objection", "buying_signal", "budget"})
"""Categories only a prospect's words can have; sellers' sentences are not negatives for them."""
HEAD_PATH = Path(__file__).parent / "data" / "sentence_head.json"
HEAD_LAYERS = 1
"""MiniLM layers the shipped head reads (`FirstLayersMiniLM`), chosen by cross-validation."""
FORMAT = "gtmflow-sentence-head/1"
Matrix = NDArray[np.float64]
_TAG = re.compile(r"[{\[][a-z_ -]{1,30}[}\]]", re.I)  # transcribers' tags: {vocalsound}, [laughter]
_WORD = re.compile(r"\w+")


class SentenceHead:
    """Per-category logistic regressions on sentence embeddings; a `SentenceClassifier`.

    Args:
        embedder: Anything with `embed(texts) -> (n, d) array` and a `model_id`.
        weights: `{category: d + 1 numbers}`, the bias last.
        threshold: The probability that scores 1.0 (the analyser's labelling threshold).
        min_words: Shorter sentences ("Okay.", "Sure, yes.") are not embedded; they score 0.
        meta: Free-form facts about the training run, kept in saved files.
        screen: An optional cheap first stage (`Screen`): its confident votes stand, and only the
            sentences it is unsure of are embedded by `embedder`.
    """

    def __init__(
        self,
        embedder: Any,
        weights: Mapping[str, Sequence[float]],
        *,
        threshold: float = 0.45,
        min_words: int = 3,
        meta: dict[str, Any] | None = None,
        screen: Screen | None = None,
    ) -> None:
        _check_threshold(threshold)
        self.embedder = embedder
        self.screen = screen
        self.categories = tuple(weights)
        self.weights: Matrix = np.asarray([weights[c] for c in self.categories], dtype=np.float64)
        self.threshold = threshold
        self.min_words = min_words
        self.meta = dict(meta or {})

    def scores(self, texts: Sequence[str]) -> list[dict[str, float]]:
        """One `{category: min(1, probability / threshold)}` per text.

        The model reads what was said: non-speech tags ("{vocalsound}", "[laughter]") are left
        out, a text with fewer than `min_words` words (punctuation is not a word) scores 0
        unembedded, and each distinct text is embedded once however often it was said. With a
        `screen`, a text it is sure of takes the screen's vote and is not embedded by MiniLM.
        """
        out = [dict.fromkeys(self.categories, 0.0) for _ in texts]
        spoken = [_spoken(t) for t in texts]
        rows: dict[str, int] = {}
        for words in spoken:
            if len(_WORD.findall(words)) >= self.min_words:
                rows.setdefault(words, len(rows))
        if not rows:
            return out
        scaled = self._votes(list(rows)).tolist()
        for index, words in enumerate(spoken):
            if words in rows:
                out[index] = dict(zip(self.categories, scaled[rows[words]], strict=True))
        return out

    def _votes(self, texts: list[str]) -> Matrix:
        if self.screen is None:
            return np.minimum(1.0, self.probabilities(texts) / self.threshold)
        first = self.screen.probabilities(texts)
        votes = np.minimum(1.0, first / self.screen.threshold)
        unsure = np.flatnonzero(self.screen.unsure(first))
        if len(unsure):
            second = self.probabilities([texts[i] for i in unsure])
            votes[unsure] = np.minimum(1.0, second / self.threshold)
        return votes

    def probabilities(self, texts: Sequence[str]) -> Matrix:
        """The `(len(texts), categories)` probabilities of `embedder`'s head (not the screen)."""
        vectors = np.asarray(self.embedder.embed(list(texts)), dtype=np.float64)
        return _sigmoid(_with_bias(vectors) @ self.weights.T)

    @classmethod
    def train(
        cls,
        embedder: Any,
        texts: Sequence[str],
        labels: Sequence[Iterable[str]],
        *,
        sellers: Sequence[bool] | None = None,
        l2: float = 0.1,
        threshold: float = 0.45,
        min_words: int = 3,
        meta: dict[str, Any] | None = None,
    ) -> SentenceHead:
        """Fit one L2-regularised logistic regression per category (Newton's method).

        Args:
            embedder: The embedder the head will run on.
            texts: Labelled sentences.
            labels: Each sentence's categories (any subset of `CATEGORIES`).
            sellers: Which sentences a seller said; they are left out of `PROSPECT_ONLY`
                categories' training, because the analyser never gives sellers those labels.
            l2: Regularisation strength (the bias is not regularised).
            threshold: See the class.
            min_words: See the class.
            meta: Facts to keep with the weights.
        """
        weights = _fit_categories(embedder, texts, labels, sellers, l2)
        info = {"l2": l2, "sentences": len(texts)} | dict(meta or {})
        return cls(embedder, weights, threshold=threshold, min_words=min_words, meta=info)

    def save(self, path: str | Path) -> None:
        """Write the head as JSON (weights rounded to 7 significant digits)."""
        data = {
            "format": FORMAT,
            "embedding_model": getattr(self.embedder, "model_id", "unknown"),
            "threshold": self.threshold,
            "min_words": self.min_words,
            "meta": self.meta,
            "weights": {
                c: [float(f"{w:.7g}") for w in row]
                for c, row in zip(self.categories, self.weights, strict=True)
            },
        }
        if self.screen is not None:
            data["screen"] = self.screen.as_dict()
        Path(path).write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path, embedder: Any, *, screen_embedder: Any = None) -> SentenceHead:
        """Read a saved head; its embedding models must be `embedder`'s (and `screen_embedder`'s).

        Args:
            path: A file `save` wrote.
            embedder: The head's embedder.
            screen_embedder: The screen's embedder, when the file has a screen; default: the
                static table derived from the whole MiniLM (`StaticEmbedding()`).
        """
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        if data.get("format") != FORMAT:
            raise ConfigError(f"'{path}' is not a {FORMAT} file")
        _check_model(path, data["embedding_model"], embedder)
        screen = None
        if "screen" in data:
            if screen_embedder is None:
                from gtmflow.tools.context.static_embedding import StaticEmbedding

                screen_embedder = StaticEmbedding()
            _check_model(path, data["screen"]["embedding_model"], screen_embedder)
            screen = Screen.from_dict(data["screen"], screen_embedder)
        return cls(
            embedder,
            data["weights"],
            threshold=data["threshold"],
            min_words=data["min_words"],
            meta=data.get("meta"),
            screen=screen,
        )


@cache
def default_head() -> SentenceHead:
    """The shipped head on the offline MiniLM embedder, loaded once per process.

    Its screen's static table is derived from MiniLM on first use (~10-35 s once per machine,
    then read from `~/.cache/gtmflow/`); it is loaded here, not on the first sentence.

    Raises:
        EmbeddingModelError: The embedding model is not installed or fails its checksum.
    """
    embedder = FirstLayersMiniLM(HEAD_LAYERS, batch_size=64)  # short sentences: larger batches
    embedder.check()
    head = SentenceHead.load(HEAD_PATH, embedder)
    if head.screen is not None:
        _ = head.screen.embedder.table
    return head


class FirstLayersMiniLM(MiniLMEmbedding):
    """all-MiniLM-L6-v2 (int8) cut after its first `layers` of 6 transformer layers, mean-pooled.

    The head does not need the whole model: logistic regressions on the first layers' mean
    scored at least as high in grouped cross-validation as on the sentence embedding itself
    (see the module docstring), at a fraction of the compute. The cut graph is derived from the
    verified model file with `onnx` on first use and cached beside the static table
    (`~/.cache/gtmflow/`, or `cache_dir=`), named by the model's sha256 and `layers`.

    Args:
        layers: How many transformer layers to keep (1-6; 6 is the whole model).
        cache_dir: Where the cut model is kept.
        threads: onnxruntime intra-op threads; default: one per physical core.
        batch_size: Texts per forward pass.
    """

    def __init__(
        self,
        layers: int,
        *,
        cache_dir: str | Path | None = None,
        threads: int | None = None,
        batch_size: int = 64,
    ) -> None:
        if not 1 <= layers <= 6:
            raise ConfigError(f"layers={layers} must be 1 to 6 (all-MiniLM-L6-v2 has six)")
        sha256 = MINILM_INT8_SHA256 if layers == 6 else None  # a cut file is checked when cut
        super().__init__(sha256=sha256, threads=threads, batch_size=batch_size)
        self.layers = layers
        self.model_id = f"{MINILM_MODEL_ID}-first{layers}"
        self._cache_dir = Path(cache_dir) if cache_dir is not None else None

    @property
    def cut_path(self) -> Path:
        """The cut model's file: one per source digest and layer count."""
        from gtmflow.tools.context.static_embedding import default_cache_dir

        folder = self._cache_dir or default_cache_dir()
        return folder / f"minilm-{MINILM_INT8_SHA256[:12]}-first{self.layers}.onnx"

    def _resolve_model_path(self) -> Path:
        full = super()._resolve_model_path()
        if self.layers == 6:
            return full
        path = self.cut_path
        if path.exists() and not _intact(path):
            warnings.warn(
                GtmflowWarning(
                    f"the cached cut model '{path}' does not match the digest written when it "
                    "was cut (a damaged or replaced file); cutting it again from the verified model"
                ),
                stacklevel=2,
            )
        if not _intact(path):
            MiniLMEmbedding().check()  # cut only the verified file (its pinned sha256)
            _cut(full, path, self.layers)
        return path


class Screen:
    """The cascade's first stage: per-category logistic regressions on a cheap embedding.

    A sentence whose every category's probability lies outside the uncertain band (in logits,
    `band[0]` below to `band[1]` above `logit(threshold)`) takes this stage's vote; the others
    go to the head's MiniLM regressions.

    Args:
        embedder: The cheap embedder (the static table, `StaticEmbedding`).
        weights: `{category: d + 1 numbers}`, the bias last.
        threshold: The probability that scores 1.0.
        band: Logit distances below and above `logit(threshold)` that stay uncertain.
        l2: The regularisation it was trained with (kept in saved files).
    """

    def __init__(
        self,
        embedder: Any,
        weights: Mapping[str, Sequence[float]],
        *,
        threshold: float,
        band: tuple[float, float],
        l2: float,
    ) -> None:
        _check_threshold(threshold)
        if min(band) < 0:
            raise ConfigError(f"band={band} must be two distances >= 0 (logits below, above)")
        self.embedder = embedder
        self.categories = tuple(weights)
        self.weights: Matrix = np.asarray([weights[c] for c in self.categories], dtype=np.float64)
        self.threshold, self.band, self.l2 = threshold, (float(band[0]), float(band[1])), l2

    @classmethod
    def train(
        cls,
        embedder: Any,
        texts: Sequence[str],
        labels: Sequence[Iterable[str]],
        *,
        sellers: Sequence[bool] | None = None,
        l2: float,
        threshold: float,
        band: tuple[float, float],
    ) -> Screen:
        """Fit the screen's regressions as `SentenceHead.train` does, on `embedder`'s vectors."""
        weights = _fit_categories(embedder, texts, labels, sellers, l2)
        return cls(embedder, weights, threshold=threshold, band=band, l2=l2)

    def probabilities(self, texts: Sequence[str]) -> Matrix:
        """The `(len(texts), categories)` probabilities of the cheap stage."""
        vectors = np.asarray(self.embedder.embed(list(texts)), dtype=np.float64)
        return _sigmoid(_with_bias(vectors) @ self.weights.T)

    def unsure(self, probabilities: Matrix) -> NDArray[np.bool_]:
        """Which rows have a category inside the uncertain band."""
        return uncertain_rows(probabilities, self.threshold, self.band)

    def as_dict(self) -> dict[str, Any]:
        """The screen as saved inside the head's file."""
        return {
            "embedding_model": getattr(self.embedder, "model_id", "unknown"),
            "threshold": self.threshold,
            "band": list(self.band),
            "l2": self.l2,
            "weights": {
                c: [float(f"{w:.7g}") for w in row]
                for c, row in zip(self.categories, self.weights, strict=True)
            },
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], embedder: Any) -> Screen:
        """The screen `as_dict` wrote, on `embedder`."""
        band = (float(data["band"][0]), float(data["band"][1]))
        return cls(embedder, data["weights"], threshold=data["threshold"], band=band, l2=data["l2"])


def _cut(full: Path, path: Path, layers: int) -> None:
    """Write the graph from the inputs to layer `layers`' output LayerNorm, and its digest.

    Both files are written whole and then renamed: a concurrent reader sees no file, the old
    one or the new one; one that sees a new model beside an old digest cuts again.
    """
    import onnx.utils

    # LayerNormalization nodes: the embeddings' one, then two per layer, the second ending it.
    ends = [
        n.output[0] for n in onnx.load(str(full)).graph.node if n.op_type == "LayerNormalization"
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.tmp.onnx")
    inputs = ["input_ids", "attention_mask", "token_type_ids"]
    onnx.utils.extract_model(str(full), str(partial), inputs, [ends[2 * layers]])
    digest = _digest_path(path).with_suffix(f".{os.getpid()}.tmp")
    digest.write_text(_sha256(partial))
    partial.replace(path)
    digest.replace(_digest_path(path))


def _intact(path: Path) -> bool:
    """Whether the cut model at `path` is the file its digest was written for."""
    recorded = _digest_path(path)
    return path.exists() and recorded.exists() and recorded.read_text() == _sha256(path)


def _digest_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def uncertain_rows(
    probabilities: Matrix, threshold: float, band: tuple[float, float]
) -> NDArray[np.bool_]:
    """Rows with a probability from `band[0]` logits below `logit(threshold)` to `band[1]` above."""
    clipped = np.clip(probabilities, 1e-12, 1 - 1e-12)
    margin = np.log(clipped / (1 - clipped)) - np.log(threshold / (1 - threshold))
    return np.asarray(((margin > -band[0]) & (margin < band[1])).any(axis=1))


def _check_threshold(threshold: float) -> None:
    if not 0 < threshold < 1:
        raise ConfigError(f"threshold={threshold} must be between 0 and 1 (a probability)")


def _check_model(path: str | Path, trained_on: str, embedder: Any) -> None:
    model = getattr(embedder, "model_id", "unknown")
    if trained_on != model:
        raise ConfigError(
            f"'{path}' was trained on {trained_on} embeddings, not {model}; "
            "retrain it with SentenceHead.train on this embedder"
        )


def _fit_categories(
    embedder: Any,
    texts: Sequence[str],
    labels: Sequence[Iterable[str]],
    sellers: Sequence[bool] | None,
    l2: float,
) -> dict[str, list[float]]:
    """One regression per category; sellers' sentences left out of `PROSPECT_ONLY` ones."""
    if len(texts) != len(labels) or (sellers is not None and len(sellers) != len(texts)):
        raise ConfigError("texts, labels and sellers must have one entry per sentence")
    tagged = [set(ls) for ls in labels]
    unknown = set().union(*tagged) - set(CATEGORIES) if tagged else set()
    if unknown:
        raise ConfigError(f"unknown labels {sorted(unknown)}; use {list(CATEGORIES)}")
    features = _with_bias(np.asarray(embedder.embed(list(texts)), dtype=np.float64))
    said_by_seller = np.asarray(sellers if sellers is not None else [False] * len(texts))
    weights = {}
    for category in CATEGORIES:
        target = np.asarray([category in ls for ls in tagged], dtype=np.float64)
        keep = ~said_by_seller if category in PROSPECT_ONLY else np.ones(len(texts), bool)
        weights[category] = _fit(features[keep], target[keep], l2).tolist()
    return weights


def _spoken(text: str) -> str:
    """`text` without non-speech tags ("{disfmarker}", "[laughter]"), spaces collapsed."""
    return " ".join(_TAG.sub(" ", text).split())


def _fit(features: Matrix, target: Matrix, l2: float, iterations: int = 30) -> Matrix:
    """Newton's method for L2-regularised logistic regression; deterministic."""
    dimension = features.shape[1]
    penalty = np.full(dimension, l2)
    penalty[-1] = 0.0  # the bias
    weights = np.zeros(dimension)
    for _ in range(iterations):
        p = _sigmoid(features @ weights)
        gradient = features.T @ (p - target) + penalty * weights
        hessian = (features * (p * (1 - p))[:, None]).T @ features + np.diag(penalty)
        step = np.linalg.solve(hessian, gradient)
        weights -= step
        if float(np.abs(step).max()) < 1e-8:
            break
    return weights


def _with_bias(vectors: Matrix) -> Matrix:
    return np.hstack([vectors, np.ones((len(vectors), 1))])


def _sigmoid(z: Matrix) -> Matrix:
    return np.asarray(1.0 / (1.0 + np.exp(-np.clip(z, -40, 40))))
