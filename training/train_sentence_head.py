"""Train the transcript analyser's sentence head on gtmflow's labelled calls.

    python training/train_sentence_head.py            # cross-validate, train, write the head
    python training/train_sentence_head.py --check    # retrain and compare with the shipped head
    python training/train_sentence_head.py --screen --out head.json  # with a cascade screen

The calls in `training/calls/` (99 calls, 2,928 sentences) were written and labelled for
gtmflow by the labelling guide in `training/README.md`; the held-out evaluation calls in
`benchmarks/data/` were never used here. Model selection is a grouped 5-fold cross-validation
over calls (a call's sentences never sit on both sides): for each number of MiniLM layers
(`FirstLayersMiniLM`), L2 strength and threshold, the fused rule the analyser applies (cue score
+ head score >= 1) is scored by sentence-level micro F1 over the six categories the head votes
on. The fewest layers whose best F1 is no lower than the whole model's are kept (fewer layers
run faster), and their best pair trains the final head on every call.

`--screen` adds the cascade's first stage (`Screen`): the same regressions on the static table
(`StaticEmbedding`), whose confident votes stand without MiniLM; its band is the narrowest whose
cross-validated F1 is no lower than the MiniLM head's overall, in every fold and every category.
The shipped head has no screen: on the whole model's head, the band this chooses made the
analyser score micro F1 0.76 on the held-out calls against 0.79 without it (0.74 with the
narrower band that the pooled F1 alone chose; benchmarks/RESULTS.md, "Issue 13 speed, session 5").
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from gtmflow.agents._rules_analyst import cue_scores
from gtmflow.agents.sentence_head import (
    CATEGORIES,
    HEAD_LAYERS,
    HEAD_PATH,
    PROSPECT_ONLY,
    FirstLayersMiniLM,
    Screen,
    SentenceHead,
    uncertain_rows,
)
from gtmflow.tools.context.static_embedding import StaticEmbedding
from gtmflow.tools.transcripts import parse_transcript

CALLS = Path(__file__).resolve().parent / "calls"
L2_GRID = (0.03, 0.1, 0.3, 1.0)
THRESHOLDS = tuple(round(t, 2) for t in np.arange(0.25, 0.71, 0.05))
LAYER_GRID = (1, 2, 3, 4, 6)
BANDS = tuple(float(round(b, 2)) for b in np.arange(0.0, 2.01, 0.25))
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


@dataclass(frozen=True)
class _Folds:
    """What every cross-validated fused rule is scored against."""

    corpus: Corpus
    folds: np.ndarray
    cues: np.ndarray
    gold: np.ndarray
    seller: np.ndarray
    short: np.ndarray

    @classmethod
    def of(cls, corpus: Corpus) -> _Folds:
        names = sorted(set(corpus.calls))
        np.random.default_rng(0).shuffle(names)
        fold_of = {name: i % FOLDS for i, name in enumerate(names)}
        return cls(
            corpus,
            np.asarray([fold_of[c] for c in corpus.calls]),
            np.asarray([[cue_scores(t)[c] for c in CATEGORIES] for t in corpus.texts]),
            np.asarray([[c in ls for c in CATEGORIES] for ls in corpus.labels]),
            np.asarray(corpus.sellers),
            np.asarray([len(t.split()) < 3 for t in corpus.texts]),  # the head's min_words
        )

    def probabilities(self, embedder: Any, l2: float) -> np.ndarray:
        """Each sentence's probabilities from a head trained on the other folds' calls."""
        texts, labels, sellers = self.corpus.texts, self.corpus.labels, self.corpus.sellers
        out = np.zeros(self.gold.shape)
        for fold in range(FOLDS):
            train = np.flatnonzero(self.folds != fold)
            head = SentenceHead.train(
                embedder,
                [texts[i] for i in train],
                [labels[i] for i in train],
                sellers=[sellers[i] for i in train],
                l2=l2,
            )
            test = np.flatnonzero(self.folds == fold)
            out[test] = head.probabilities([texts[i] for i in test])
        return out

    def f1(self, votes: np.ndarray) -> float:
        """Micro F1 of the fused rule (cue + vote >= 1, no prospect-only label for sellers)."""
        return float(self.f1s(votes)[0])

    def f1s(self, votes: np.ndarray) -> np.ndarray:
        """Micro F1 of the fused rule over all sentences, then in each fold, then per category."""
        votes = np.where(self.short[:, None], 0.0, votes)
        prospect_only = np.asarray([c in PROSPECT_ONLY for c in CATEGORIES])
        predicted = (self.cues + votes >= 1.0) & ~(self.seller[:, None] & prospect_only[None, :])
        hit, miss = predicted & self.gold, predicted ^ self.gold
        parts = [(hit.sum(), miss.sum())]
        parts += [(hit[self.folds == f].sum(), miss[self.folds == f].sum()) for f in range(FOLDS)]
        parts += list(zip(hit.sum(axis=0), miss.sum(axis=0), strict=True))
        return np.asarray([2 * tp / max(1, 2 * tp + wrong) for tp, wrong in parts])


def cross_validate(
    folds: _Folds, embedder: Any
) -> tuple[dict[tuple[float, float], float], dict[float, np.ndarray]]:
    """Grouped k-fold micro F1 of the fused rule for every (l2, threshold), and the
    cross-validated probabilities for every l2."""
    cached = _Cached(embedder.embed(folds.corpus.texts), folds.corpus.texts, embedder.model_id)
    results, probabilities = {}, {}
    for l2 in L2_GRID:
        probabilities[l2] = folds.probabilities(cached, l2)
        for threshold in THRESHOLDS:
            votes = np.minimum(1.0, probabilities[l2] / threshold)
            results[(l2, threshold)] = folds.f1(votes)
    return results, probabilities


def choose_band(
    folds: _Folds, head: tuple[np.ndarray, float], screen: tuple[np.ndarray, float]
) -> tuple[tuple[float, float], float, float]:
    """The screen's narrowest uncertain band whose cascade is as good as the head alone.

    "As good" is grouped cross-validated micro F1 no lower than the MiniLM head's over all
    sentences, in every fold and in every category (the pooled figure alone picked a band too
    narrow for the held-out calls: 0.74 against 0.79). Narrowest is the smallest share of
    sentences sent to MiniLM. Returns the band, the cascade's F1 and that share.
    """
    probabilities, threshold = screen
    screen_votes = np.minimum(1.0, probabilities / threshold)
    head_votes = np.minimum(1.0, head[0] / head[1])
    floor = folds.f1s(head_votes) - 1e-9
    best: tuple[float, float, tuple[float, float]] = (1.0, 0.0, (BANDS[-1], BANDS[-1]))
    for band in itertools.product(BANDS, BANDS):
        unsure = uncertain_rows(probabilities, threshold, band) & ~folds.short
        scores = folds.f1s(np.where(unsure[:, None], head_votes, screen_votes))
        share = float(unsure.sum() / (~folds.short).sum())
        if bool((scores >= floor).all()) and (share, -scores[0]) < (best[0], -best[1]):
            best = (share, float(scores[0]), band)
    share, f1, band = best
    return band, f1, share


class _Cached:
    """An embedder that returns precomputed vectors of known texts (cross-validation)."""

    def __init__(self, vectors: np.ndarray, texts: list[str], model_id: str) -> None:
        self._rows = {t: v for t, v in zip(texts, vectors, strict=True)}
        self.model_id = model_id

    def embed(self, texts: list[str]) -> np.ndarray:
        return np.asarray([self._rows[t] for t in texts])


def main(argv: list[str] | None = None) -> int:
    """Cross-validate, train and write the head (or, with --check, compare with the shipped)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HEAD_PATH)
    parser.add_argument("--check", action="store_true", help="compare with the shipped head")
    parser.add_argument(
        "--screen", action="store_true", help="add a static-embedding screen (the cascade)"
    )
    args = parser.parse_args(argv)
    console = Console(width=max(Console().width, 120))
    corpus = load_corpus()
    if args.check:
        embedder = FirstLayersMiniLM(HEAD_LAYERS)
        shipped = SentenceHead.load(HEAD_PATH, embedder)
        gap = weight_gap(shipped, retrain_like(shipped, corpus, embedder))
        console.print(f"largest weight difference: {gap:.2e}")
        return 0 if gap < 1e-3 else 1
    folds = _Folds.of(corpus)
    layers, embedder, (results, probabilities) = choose_layers(folds, console)
    console.print(_grid(f"MiniLM head, first {layers} layers", results))
    l2, threshold, best = _best(results)
    console.print(
        f"chosen: {layers} layers, l2={l2:g}, threshold={threshold:.2f} "
        f"(cross-validated F1 {best:.3f})"
    )
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
    if args.screen:
        head.screen, share = train_screen(folds, (probabilities[l2], threshold), console)
        head.meta["cv_share_to_minilm"] = share
    head.save(args.out)
    console.print(
        f"wrote {args.out} ({len(corpus.texts)} sentences, {len(set(corpus.calls))} calls)"
    )
    return 0


def choose_layers(
    folds: _Folds, console: Console
) -> tuple[int, FirstLayersMiniLM, tuple[dict[tuple[float, float], float], dict[float, Any]]]:
    """The fewest MiniLM layers whose head cross-validates as well as the whole model's."""
    runs = {}
    for layers in LAYER_GRID:
        embedder = FirstLayersMiniLM(layers)
        runs[layers] = (embedder, cross_validate(folds, embedder))
    best = {layers: _best(run[1][0])[2] for layers, run in runs.items()}
    console.print(
        "grouped cross-validated micro F1 by layers: "
        + ", ".join(f"{layers}: {f1:.3f}" for layers, f1 in best.items())
    )
    layers = min(n for n in LAYER_GRID if best[n] >= best[6] - 1e-9)
    return layers, runs[layers][0], runs[layers][1]


def train_screen(
    folds: _Folds, head: tuple[np.ndarray, float], console: Console
) -> tuple[Screen, float]:
    """The cascade's first stage on the static table, and the share of the training sentences
    it sends to MiniLM: its l2 and threshold by grouped cross-validation of the screen alone,
    its band by `choose_band`."""
    static = StaticEmbedding()
    screens, probabilities = cross_validate(folds, static)
    console.print(_grid("static screen alone", screens))
    l2, threshold, alone = _best(screens)
    band, cascade_f1, share = choose_band(folds, head, (probabilities[l2], threshold))
    console.print(
        f"screen: l2={l2:g}, threshold={threshold:.2f} (alone {alone:.3f}), band {band}: "
        f"cascade F1 {cascade_f1:.3f}, {share:.1%} of sentences reach MiniLM"
    )
    corpus = folds.corpus
    screen = Screen.train(
        static,
        corpus.texts,
        corpus.labels,
        sellers=corpus.sellers,
        l2=l2,
        threshold=threshold,
        band=band,
    )
    return screen, round(share, 3)


def _grid(name: str, results: dict[tuple[float, float], float]) -> Table:
    title = f"{name}: grouped {FOLDS}-fold micro F1 (cue + vote >= 1)"
    table = Table(title=title, title_justify="left")
    table.add_column("l2")
    for threshold in THRESHOLDS:
        table.add_column(f"{threshold:.2f}")
    for l2 in L2_GRID:
        table.add_row(f"{l2:g}", *(f"{results[(l2, t)]:.3f}" for t in THRESHOLDS))
    return table


def _best(results: dict[tuple[float, float], float]) -> tuple[float, float, float]:
    (l2, threshold), best = max(results.items(), key=lambda kv: (round(kv[1], 3), kv[0]))
    return l2, threshold, best


def retrain_like(shipped: SentenceHead, corpus: Corpus, embedder: Any) -> SentenceHead:
    """A head (and screen) trained on `corpus` with the shipped head's settings."""
    head = SentenceHead.train(
        embedder,
        corpus.texts,
        corpus.labels,
        sellers=corpus.sellers,
        l2=float(shipped.meta["l2"]),
        threshold=shipped.threshold,
        min_words=shipped.min_words,
    )
    if shipped.screen is not None:
        screen = shipped.screen
        head.screen = Screen.train(
            screen.embedder,
            corpus.texts,
            corpus.labels,
            sellers=corpus.sellers,
            l2=screen.l2,
            threshold=screen.threshold,
            band=screen.band,
        )
    return head


def weight_gap(shipped: SentenceHead, again: SentenceHead) -> float:
    """The largest difference between two heads' weights, their screens' included."""
    gap = float(np.abs(again.weights - shipped.weights).max())
    if (shipped.screen is None) != (again.screen is None):
        return float("inf")
    if shipped.screen is not None and again.screen is not None:
        gap = max(gap, float(np.abs(again.screen.weights - shipped.screen.weights).max()))
    return gap


if __name__ == "__main__":
    sys.exit(main())
