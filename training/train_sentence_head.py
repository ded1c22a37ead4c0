"""Train the transcript analyser's sentence head on gtmflow's labelled calls.

    python training/train_sentence_head.py            # cross-validate, train, write the head
    python training/train_sentence_head.py --check    # retrain and compare with the shipped head

The calls in `training/calls/` (99 calls, 2,928 sentences) were written and labelled for
gtmflow by the labelling guide in `training/README.md`; the held-out evaluation calls in
`benchmarks/data/` were never used here. Model selection is a grouped 5-fold cross-validation
over calls (a call's sentences never sit on both sides): for each L2 strength and threshold, the
fused rule the analyser applies (cue score + head score >= 1) is scored by sentence-level micro
F1 over the six categories the head votes on. The best pair trains the final head on every call.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from gtmflow.agents._rules_analyst import cue_scores
from gtmflow.agents.sentence_head import CATEGORIES, HEAD_PATH, PROSPECT_ONLY, SentenceHead
from gtmflow.tools.context.embeddings import MiniLMEmbedding
from gtmflow.tools.transcripts import parse_transcript

CALLS = Path(__file__).resolve().parent / "calls"
L2_GRID = (0.03, 0.1, 0.3, 1.0)
THRESHOLDS = tuple(round(t, 2) for t in np.arange(0.25, 0.71, 0.05))
FOLDS = 5


@dataclass(frozen=True)
class Corpus:
    """Labelled sentences with their call, whether a seller said them, and a digest."""

    texts: list[str]
    labels: list[list[str]]
    sellers: list[bool]
    calls: list[str]
    digest: str


def load_corpus(folder: Path = CALLS) -> Corpus:
    """Every sentence of every call file, with roles as the analyser's parser assigns them."""
    texts: list[str] = []
    labels: list[list[str]] = []
    sellers: list[bool] = []
    calls: list[str] = []
    digest = hashlib.sha256()
    for path in sorted(folder.glob("*.json")):
        digest.update(path.read_bytes())
        for call in json.loads(path.read_text(encoding="utf-8"))["calls"]:
            turns = call["turns"]
            lines = [f"{t['speaker']}: {' '.join(s for s, _ in t['sentences'])}" for t in turns]
            parsed = parse_transcript(
                "\n".join(lines), transcript_id=call["id"], seller_company=call["seller_company"]
            ).transcript
            for turn, utterance in zip(turns, parsed.utterances, strict=True):
                for sentence, tags in turn["sentences"]:
                    texts.append(sentence)
                    labels.append([t for t in tags if t in CATEGORIES])
                    sellers.append(utterance.role == "seller")
                    calls.append(call["id"])
    return Corpus(texts, labels, sellers, calls, digest.hexdigest()[:16])


def cross_validate(corpus: Corpus, embedder: MiniLMEmbedding) -> dict[tuple[float, float], float]:
    """Grouped k-fold micro F1 of the fused rule for every (l2, threshold)."""
    names = sorted(set(corpus.calls))
    np.random.default_rng(0).shuffle(names)
    fold_of = {name: i % FOLDS for i, name in enumerate(names)}
    folds = np.asarray([fold_of[c] for c in corpus.calls])
    cues = np.asarray([[cue_scores(t)[c] for c in CATEGORIES] for t in corpus.texts])
    gold = np.asarray([[c in ls for c in CATEGORIES] for ls in corpus.labels])
    vectors = embedder.embed(corpus.texts)
    cached = _Cached(vectors, corpus.texts)
    seller = np.asarray(corpus.sellers)
    prospect_only = np.asarray([c in PROSPECT_ONLY for c in CATEGORIES])
    short = np.asarray([len(t.split()) < 3 for t in corpus.texts])  # the head's min_words
    results = {}
    for l2 in L2_GRID:
        probabilities = np.zeros(gold.shape)
        for fold in range(FOLDS):
            train = np.flatnonzero(folds != fold)
            head = SentenceHead.train(
                cached,
                [corpus.texts[i] for i in train],
                [corpus.labels[i] for i in train],
                sellers=[corpus.sellers[i] for i in train],
                l2=l2,
            )
            test = np.flatnonzero(folds == fold)
            probabilities[test] = head.probabilities([corpus.texts[i] for i in test])
        for threshold in THRESHOLDS:
            votes = np.where(short[:, None], 0.0, np.minimum(1.0, probabilities / threshold))
            predicted = (cues + votes >= 1.0) & ~(seller[:, None] & prospect_only[None, :])
            tp = int((predicted & gold).sum())
            wrong = int((predicted & ~gold).sum()) + int((~predicted & gold).sum())
            results[(l2, threshold)] = 2 * tp / (2 * tp + wrong)
    return results


class _Cached:
    """An embedder that returns precomputed vectors of known texts (cross-validation)."""

    model_id = MiniLMEmbedding.model_id

    def __init__(self, vectors: np.ndarray, texts: list[str]) -> None:
        self._rows = {t: v for t, v in zip(texts, vectors, strict=True)}

    def embed(self, texts: list[str]) -> np.ndarray:
        return np.asarray([self._rows[t] for t in texts])


def main(argv: list[str] | None = None) -> int:
    """Cross-validate, train and write the head (or, with --check, compare with the shipped)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HEAD_PATH)
    parser.add_argument("--check", action="store_true", help="compare with the shipped head")
    args = parser.parse_args(argv)
    console = Console(width=max(Console().width, 120))
    corpus = load_corpus()
    embedder = MiniLMEmbedding(batch_size=32)
    if args.check:
        shipped = SentenceHead.load(HEAD_PATH, embedder)
        again = retrain_like(shipped, corpus, embedder)
        gap = float(np.abs(again.weights - shipped.weights).max())
        console.print(f"largest weight difference: {gap:.2e}")
        return 0 if gap < 1e-3 else 1
    results = cross_validate(corpus, embedder)
    table = Table(title=f"grouped {FOLDS}-fold micro F1 (cue + head >= 1)", title_justify="left")
    table.add_column("l2")
    for threshold in THRESHOLDS:
        table.add_column(f"{threshold:.2f}")
    for l2 in L2_GRID:
        table.add_row(f"{l2:g}", *(f"{results[(l2, t)]:.3f}" for t in THRESHOLDS))
    console.print(table)
    (l2, threshold), best = max(results.items(), key=lambda kv: (round(kv[1], 3), kv[0]))
    console.print(f"chosen: l2={l2:g}, threshold={threshold:.2f} (cross-validated F1 {best:.3f})")
    meta = {"calls_digest": corpus.digest, "cv_micro_f1": round(best, 3)}
    head = SentenceHead.train(
        embedder,
        corpus.texts,
        corpus.labels,
        sellers=corpus.sellers,
        l2=l2,
        threshold=threshold,
        meta=meta,
    )
    head.save(args.out)
    console.print(
        f"wrote {args.out} ({len(corpus.texts)} sentences, {len(set(corpus.calls))} calls)"
    )
    return 0


def retrain_like(shipped: SentenceHead, corpus: Corpus, embedder: MiniLMEmbedding) -> SentenceHead:
    """A head trained on `corpus` with the shipped head's settings."""
    return SentenceHead.train(
        embedder,
        corpus.texts,
        corpus.labels,
        sellers=corpus.sellers,
        l2=float(shipped.meta["l2"]),
        threshold=shipped.threshold,
        min_words=shipped.min_words,
    )


if __name__ == "__main__":
    sys.exit(main())
