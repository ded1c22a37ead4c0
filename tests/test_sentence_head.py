"""The analyser's sentence head: training, saving, the shipped weights, and what it adds."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from gtmflow.agents.sentence_head import (
    HEAD_PATH,
    FirstLayersMiniLM,
    Screen,
    SentenceHead,
    default_head,
    uncertain_rows,
)
from gtmflow.agents.transcript_analyst import TranscriptAnalyst
from gtmflow.errors import ConfigError, GtmflowWarning
from gtmflow.tools.transcripts import parse_transcript

TRAINING = Path(__file__).resolve().parents[1] / "training"


class WordEmbedder:
    """A bag-of-marker-words embedder: enough structure for a logistic regression to learn."""

    model_id = "marker-words"
    words = ("slow", "manual", "price", "contract", "send", "call", "weather", "hello")

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        rows = np.asarray(
            [[float(w in t.lower()) for w in self.words] + [1.0] for t in texts], dtype=float
        )
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)


CORPUS = [
    ("Everything is slow and manual here.", ["pain"], False),
    ("The manual work is killing us, it is so slow.", ["pain"], False),
    ("Our process is slow.", ["pain"], False),
    ("The price is too high for us.", ["objection"], False),
    ("We are locked into a contract.", ["objection"], False),
    ("That price and that contract worry me.", ["objection"], False),
    ("Send me the deck and book a call.", ["next_step"], False),
    ("I will send a summary after this call.", ["next_step"], True),
    ("Lovely weather today, hello everyone.", [], False),
    ("Hello, how is the weather there?", [], True),
    ("Our slow manual tool is what we sell against.", [], True),  # a seller: not a pain example
]


def trained(**options: object) -> SentenceHead:
    texts, labels, sellers = zip(*CORPUS, strict=True)
    return SentenceHead.train(WordEmbedder(), texts, labels, sellers=sellers, **options)  # type: ignore[arg-type]


def test_a_trained_head_separates_what_it_was_shown() -> None:
    head = trained(l2=0.01)
    votes = head.scores(["So slow and manual.", "The contract price is a problem.", "Hi."])
    assert votes[0]["pain"] == 1.0 and votes[0]["objection"] < 0.5
    assert votes[1]["objection"] == 1.0 and votes[1]["pain"] < 0.5
    assert all(v == 0.0 for v in votes[2].values())  # under min_words: not embedded at all


class CountingEmbedder(WordEmbedder):
    """Records every text it is asked to embed."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.seen += texts
        return super().embed(texts)


def test_each_distinct_sentence_is_embedded_once_without_its_non_speech_tags() -> None:
    head = trained(l2=0.01)
    counting = CountingEmbedder()
    head.embedder = counting
    texts = [
        "So slow and manual.",
        "So slow and manual.",  # said twice in one call: embedded once
        "So {vocalsound} slow and [laughter] manual.",  # the same words once the tags go
        "Okay , yeah .",  # punctuation is not words: under min_words
        "{disfmarker} {vocalsound} Okay.",
    ]
    votes = head.scores(texts)
    assert counting.seen == ["So slow and manual."]
    assert votes[0] == votes[1] == votes[2] and votes[0]["pain"] == 1.0
    assert all(v == 0.0 for vote in votes[3:] for v in vote.values())


def test_regularisation_shrinks_confidence() -> None:
    weak, strong = trained(l2=10.0), trained(l2=0.01)
    text = ["Everything is slow and manual."]
    assert weak.probabilities(text)[0, 0] < strong.probabilities(text)[0, 0]


def test_saved_heads_load_only_on_their_embedding_model(tmp_path: Path) -> None:
    head = trained(l2=0.1, meta={"note": "test"})
    path = tmp_path / "head.json"
    head.save(path)
    again = SentenceHead.load(path, WordEmbedder())
    assert again.meta == {"l2": 0.1, "sentences": len(CORPUS), "note": "test"}
    assert np.allclose(again.weights, head.weights, rtol=1e-6)

    class Other(WordEmbedder):
        model_id = "another-model"

    with pytest.raises(ConfigError, match="trained on marker-words embeddings, not another-model"):
        SentenceHead.load(path, Other())


def test_training_input_mistakes_are_named() -> None:
    with pytest.raises(ConfigError, match=r"unknown labels \['pains'\]"):
        SentenceHead.train(WordEmbedder(), ["Slow."], [["pains"]])
    with pytest.raises(ConfigError, match="one entry per sentence"):
        SentenceHead.train(WordEmbedder(), ["Slow.", "Fast."], [["pain"]])


class ScreenWords(WordEmbedder):
    """A cheaper marker-word embedder for the screen: fewer words, another model."""

    model_id = "marker-words-screen"
    words = ("slow", "price", "send", "hello")


def cascade(band: tuple[float, float]) -> tuple[SentenceHead, CountingEmbedder]:
    texts, labels, sellers = zip(*CORPUS, strict=True)
    head = trained(l2=0.01)
    head.embedder = counting = CountingEmbedder()
    head.screen = Screen.train(
        ScreenWords(), texts, labels, sellers=sellers, l2=0.1, threshold=0.45, band=band
    )
    return head, counting


PROBES = [
    "So slow and manual.",
    "The contract price is a problem.",
    "Send the notes after the call.",
    "Hello, lovely weather today.",
    "Manual steps everywhere.",
    "Okay.",
]


def test_a_screen_sends_only_the_sentences_it_is_unsure_of_to_the_embedder() -> None:
    head, counting = cascade(band=(1.5, 1.5))
    assert head.screen is not None
    first = head.screen.probabilities(PROBES[:-1])
    unsure = [t for t, u in zip(PROBES, head.screen.unsure(first), strict=False) if u]
    assert 0 < len(unsure) < len(PROBES) - 1  # the band splits the probes
    votes = head.scores(PROBES)
    assert counting.seen == unsure  # "Okay." is under min_words: never embedded
    alone = trained(l2=0.01).scores(PROBES)
    for text, vote, minilm, screen in zip(PROBES, votes, alone, first, strict=False):
        expected = list(minilm.values()) if text in unsure else np.minimum(1, screen / 0.45)
        assert list(vote.values()) == pytest.approx(expected)


def test_the_band_sets_how_much_reaches_the_embedder() -> None:
    none, counting = cascade(band=(0.0, 0.0))
    none.scores(PROBES)
    assert counting.seen == []
    every, counting = cascade(band=(40.0, 40.0))
    every.scores(PROBES)
    assert counting.seen == PROBES[:-1]
    probabilities = np.asarray([[0.2, 0.44], [0.9, 0.01]])
    assert uncertain_rows(probabilities, 0.45, (0.1, 0.0)).tolist() == [True, False]
    assert uncertain_rows(probabilities, 0.45, (0.0, 3.0)).tolist() == [False, True]


def test_a_saved_screen_loads_only_on_its_embedding_model(tmp_path: Path) -> None:
    head, _ = cascade(band=(0.5, 0.25))
    path = tmp_path / "cascade.json"
    head.save(path)
    again = SentenceHead.load(path, WordEmbedder(), screen_embedder=ScreenWords())
    assert again.screen is not None and head.screen is not None
    assert again.screen.band == (0.5, 0.25) and again.screen.l2 == 0.1
    assert np.allclose(again.screen.weights, head.screen.weights, rtol=1e-6)
    loaded, kept = (np.asarray([list(v.values()) for v in h.scores(PROBES)]) for h in (again, head))
    assert np.allclose(loaded, kept, rtol=1e-5)
    with pytest.raises(ConfigError, match="trained on marker-words-screen embeddings, not marker"):
        SentenceHead.load(path, WordEmbedder(), screen_embedder=WordEmbedder())
    with pytest.raises(ConfigError, match=r"band=\(-1, 0\) must be two distances >= 0"):
        Screen(ScreenWords(), {"pain": [0.0] * 6}, threshold=0.45, band=(-1, 0), l2=1.0)


@pytest.fixture(scope="module")
def shipped() -> SentenceHead:
    try:
        return default_head()
    except Exception as exc:  # the embedding model is a pinned dependency; say why if absent
        pytest.skip(f"MiniLM embedder unavailable: {exc}")


def test_the_first_layers_are_cut_once_and_embed_differently(
    shipped: SentenceHead, tmp_path: Path
) -> None:
    texts = ["Our drivers sit idle every morning.", "Send me the contract."]
    cut = FirstLayersMiniLM(3, cache_dir=tmp_path)
    vectors = cut.embed(texts)
    assert cut.model_id == "all-MiniLM-L6-v2-first3" and cut.cut_path.parent == tmp_path
    assert vectors.shape == (2, 384) and np.allclose(np.linalg.norm(vectors, axis=1), 1.0)
    made = cut.cut_path.stat().st_mtime_ns
    again = FirstLayersMiniLM(3, cache_dir=tmp_path)
    assert np.allclose(again.embed(texts), vectors, atol=1e-6)
    assert again.cut_path.stat().st_mtime_ns == made  # read from the cache, not cut again
    whole = FirstLayersMiniLM(6, cache_dir=tmp_path).embed(texts)
    assert float((whole * vectors).sum(axis=1).min()) < 0.99  # another representation
    assert shipped.embedder.model_id.endswith(f"-first{shipped.embedder.layers}")
    with pytest.raises(ConfigError, match="layers=7 must be 1 to 6"):
        FirstLayersMiniLM(7)


def test_a_damaged_cached_cut_is_said_and_cut_again(shipped: SentenceHead, tmp_path: Path) -> None:
    texts = ["Our drivers sit idle every morning.", "Send me the contract."]
    vectors = FirstLayersMiniLM(1, cache_dir=tmp_path).embed(texts)
    cached = FirstLayersMiniLM(1, cache_dir=tmp_path).cut_path
    data = bytearray(cached.read_bytes())
    data[-64:] = bytes(64)  # the tail of the weights, as a disk or a copy might damage them
    cached.write_bytes(bytes(data))
    with pytest.warns(GtmflowWarning, match="does not match the digest"):
        again = FirstLayersMiniLM(1, cache_dir=tmp_path).embed(texts)
    assert np.allclose(again, vectors, atol=1e-6)


def test_the_shipped_head_is_what_the_training_script_makes(shipped: SentenceHead) -> None:
    sys.path.insert(0, str(TRAINING))
    try:
        import train_sentence_head as script
    finally:
        sys.path.remove(str(TRAINING))
    corpus = script.load_corpus()
    assert shipped.meta["calls_digest"] == corpus.digest, "retrain: training/calls changed"
    again = script.retrain_like(shipped, corpus, shipped.embedder)
    assert float(np.abs(again.weights - shipped.weights).max()) < 1e-3


def test_the_head_finds_paraphrased_pains_the_lexicons_miss(shipped: SentenceHead) -> None:
    text = (
        "Ann (AE, Northwind): How do your dispatchers plan the day?\n"
        "Bo (Ops Lead, Acme): Our drivers sit idle for an hour every morning waiting for the "
        "route sheets.\n"
        "Bo (Ops Lead, Acme): Sorry, I was on mute."
    )
    transcript = parse_transcript(text, seller_company="Northwind").transcript
    lexicons = TranscriptAnalyst(embeddings="off").analyze(transcript)
    with_head = TranscriptAnalyst(classifier=shipped).analyze(transcript)
    assert lexicons.pain_points == ()
    assert [p.evidence[0].quote for p in with_head.pain_points] == [
        "Our drivers sit idle for an hour every morning waiting for the route sheets."
    ]
    assert shipped.meta["cv_micro_f1"] > 0.6 and HEAD_PATH.exists()


def test_the_head_loads_only_when_the_rules_backend_runs() -> None:
    from gtmflow.testing import ScriptedChatModel

    reply = {"pain_points": [], "sentiment": "neutral"}
    llm = TranscriptAnalyst(brain=ScriptedChatModel(script=[reply]))  # embeddings="auto"
    transcript = parse_transcript("Bo: Our reporting is a mess.").transcript
    insights = llm.analyze(transcript)
    assert insights.run is not None and insights.run.produced_by == "llm"
    assert "classifier" not in llm.__dict__ and "rules" not in llm.__dict__
