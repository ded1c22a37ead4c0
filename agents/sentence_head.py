"""The rules analyser's sentence classifier: a logistic-regression head over MiniLM embeddings.

Cue lexicons are precise but miss paraphrases ("it eats half their morning" is a pain without a
pain word). This head embeds each sentence with the offline MiniLM embedder
(`gtmflow.tools.context.embeddings`) and scores it per category with one logistic regression each,
trained on gtmflow's own labelled sales calls (`training/calls/`, written for gtmflow and
independent of the held-out evaluation calls in `benchmarks/data/`). The analyser adds the score
to the sentence's cue score, so a confident head labels a sentence on its own, a hesitant one
tips a weak cue over the line, and a negation cue still vetoes.

The shipped weights (`data/sentence_head.json`, 6 x 385 numbers) are what
`python training/train_sentence_head.py` writes; a test retrains them and compares. Train a head
on your own labelled sentences and use it instead:

```python
from gtmflow.agents.sentence_head import SentenceHead, default_head
from gtmflow.agents.transcript_analyst import TranscriptAnalyst

embedder = default_head().embedder  # the offline MiniLM, loaded once
head = SentenceHead.train(embedder, texts, labels, sellers=said_by_seller)  # your calls
head.save("my_head.json")
analyst = TranscriptAnalyst(classifier=SentenceHead.load("my_head.json", embedder))
```

Measured (`python benchmarks/agents.py`): micro F1 0.79 on the held-out calls against 0.56 for
the lexicons alone (0.78 and 0.54 before vendors and asks were found by context). Grouped 5-fold
cross-validation on the training calls (`python training/train_sentence_head.py`) chose the L2
strength and threshold.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from gtmflow.errors import ConfigError

__all__ = ["CATEGORIES", "HEAD_PATH", "PROSPECT_ONLY", "SentenceHead", "default_head"]

CATEGORIES = ("pain", "objection", "buying_signal", "next_step", "authority", "budget")
PROSPECT_ONLY = frozenset({"pain", "objection", "buying_signal", "budget"})
"""Categories only a prospect's words can have; sellers' sentences are not negatives for them."""
HEAD_PATH = Path(__file__).parent / "data" / "sentence_head.json"
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
    """

    def __init__(
        self,
        embedder: Any,
        weights: dict[str, Sequence[float]],
        *,
        threshold: float = 0.45,
        min_words: int = 3,
        meta: dict[str, Any] | None = None,
    ) -> None:
        if not 0 < threshold < 1:
            raise ConfigError(f"threshold={threshold} must be between 0 and 1 (a probability)")
        self.embedder = embedder
        self.categories = tuple(weights)
        self.weights: Matrix = np.asarray([weights[c] for c in self.categories], dtype=np.float64)
        self.threshold = threshold
        self.min_words = min_words
        self.meta = dict(meta or {})

    def scores(self, texts: Sequence[str]) -> list[dict[str, float]]:
        """One `{category: min(1, probability / threshold)}` per text.

        The model reads what was said: non-speech tags ("{vocalsound}", "[laughter]") are left
        out, a text with fewer than `min_words` words (punctuation is not a word) scores 0
        unembedded, and each distinct text is embedded once however often it was said.
        """
        out = [dict.fromkeys(self.categories, 0.0) for _ in texts]
        spoken = [_spoken(t) for t in texts]
        rows: dict[str, int] = {}
        for words in spoken:
            if len(_WORD.findall(words)) >= self.min_words:
                rows.setdefault(words, len(rows))
        if not rows:
            return out
        scaled = np.minimum(1.0, self.probabilities(list(rows)) / self.threshold).tolist()
        for index, words in enumerate(spoken):
            if words in rows:
                out[index] = dict(zip(self.categories, scaled[rows[words]], strict=True))
        return out

    def probabilities(self, texts: Sequence[str]) -> Matrix:
        """The `(len(texts), categories)` probabilities, whatever the sentence length."""
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
        Path(path).write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path, embedder: Any) -> SentenceHead:
        """Read a saved head; its embedding model must be `embedder`'s."""
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        if data.get("format") != FORMAT:
            raise ConfigError(f"'{path}' is not a {FORMAT} file")
        model = getattr(embedder, "model_id", "unknown")
        if data["embedding_model"] != model:
            raise ConfigError(
                f"'{path}' was trained on {data['embedding_model']} embeddings, not {model}; "
                "retrain it with SentenceHead.train on this embedder"
            )
        return cls(
            embedder,
            data["weights"],
            threshold=data["threshold"],
            min_words=data["min_words"],
            meta=data.get("meta"),
        )


@cache
def default_head() -> SentenceHead:
    """The shipped head on the offline MiniLM embedder, loaded once per process.

    Raises:
        EmbeddingModelError: The embedding model is not installed or fails its checksum.
    """
    from gtmflow.tools.context.embeddings import MiniLMEmbedding

    embedder = MiniLMEmbedding(batch_size=64)  # sentences are short: larger batches are faster
    embedder.check()
    return SentenceHead.load(HEAD_PATH, embedder)


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
