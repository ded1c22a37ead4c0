"""PipelineScorer: rankings, model agreement, cited briefs, retrieval hook, LLM backend, HTML."""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import pytest
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_none

from gtmflow.agents.pipeline_scorer import (
    BriefDrafts,
    Passage,
    PipelineData,
    PipelineScorer,
    kendall_tau,
)
from gtmflow.agents.report_html import render_html, write_html
from gtmflow.brains import Brain, is_transient
from gtmflow.errors import ConfigError
from gtmflow.models import Contact
from gtmflow.prompts import load_prompt
from gtmflow.testing import ScriptedChatModel
from gtmflow.tools.attribution.heuristics import attribute
from gtmflow.tools.attribution.journeys import Journeys
from gtmflow.tools.attribution.scoring import Threshold, default_scorer
from gtmflow.tools.charts import grouped_bars, histogram

from .conftest import at

SNAPSHOT = Path(__file__).parent / "snapshots" / "prompts" / "pipeline_scorer.txt"


def _data() -> PipelineData:
    content = Journeys.from_paths(
        [
            ["/blog/a", "cs-x", "(direct)"],
            ["/blog/a", "/blog/b"],
            ["cs-x"],
            ["/blog/b"],
            ["(paid_search)", "/blog/a"],
        ],
        conversions=[1, 1, 1, 0, 0],
        nulls=[0, 0, 0, 1, 1],
        values=[900, 300, 600, 0, 0],
        ids=["d1", "d2", "d3", "contact:c4", "contact:c5"],
    )
    channel = Journeys.from_paths(
        [["ads", "email"], ["email"], ["ads"], ["email"]],
        conversions=[1, 1, 1, 0],
        nulls=[0, 0, 0, 1],
        values=[900, 300, 600, 0],
        ids=["d1", "d2", "d3", "contact:c4"],
    )
    revenue = Journeys.from_paths(
        [["cs-x"], ["/blog/a"]],
        conversions=[1, 0],
        nulls=[0, 1],
        values=[600, 0],
        ids=["d3", "contact:c1"],
    )
    return PipelineData(
        journeys={
            ("pipeline", "content"): content,
            ("pipeline", "channel"): channel,
            ("revenue", "content"): revenue,
        },
        titles={"cs-x": "How X doubled SQLs"},
        deal_contacts={"d1": ("c1",), "d2": ("c2",), "d3": ("c3", "c9")},
        as_of=at(30),
    )


def test_sections_rank_by_consensus_and_carry_every_model() -> None:
    report = PipelineScorer(models=("first", "linear", "markov"), top_k=3).report(_data())
    section = report.section("pipeline", "content")
    assert [a.model for a in section.attributions] == ["first", "linear", "markov"]
    assert section.total_value == 1800 and len(section.top) == 3
    credits = {a.model: a.by_key() for a in section.attributions}
    for ranked in section.top:
        for model, by_key in credits.items():
            better = sum(c.value > by_key[ranked.key].value + 1e-9 for c in by_key.values())
            assert ranked.ranks[model] == 1 + better
            assert ranked.by_model[model] == by_key[ranked.key].value
        assert ranked.value == pytest.approx(np.mean(list(ranked.by_model.values())))
        assert ranked.consensus_rank == pytest.approx(np.mean(list(ranked.ranks.values())))
    assert [r.consensus_rank for r in section.top] == sorted(r.consensus_rank for r in section.top)
    assert section.top[0].key == "cs-x"  # first to linear and markov, second to first touch
    assert section.top[0].title == "How X doubled SQLs"
    with pytest.raises(ConfigError, match="no 'revenue' section at level 'channel'"):
        report.section("revenue", "channel")


def test_agreement_is_pairwise_kendall_tau_and_top_k_overlap() -> None:
    report = PipelineScorer(models=("first", "linear", "position"), top_k=2).report(_data())
    section = report.section("pipeline", "channel")
    pairs = {(a.a, a.b): a for a in section.agreement}
    assert set(pairs) == {("first", "linear"), ("first", "position"), ("linear", "position")}
    keys = sorted(["ads", "email"])
    by = {a.model: a.by_key() for a in section.attributions}
    for (a, b), agreement in pairs.items():
        x = np.array([by[a][k].value for k in keys])
        y = np.array([by[b][k].value for k in keys])
        assert agreement.kendall_tau == pytest.approx(kendall_tau(x, y))
        assert agreement.top_k_overlap == 1.0  # two keys, k = 2
    assert section.mean_tau == pytest.approx(np.mean([a.kendall_tau for a in section.agreement]))


def test_kendall_tau_b_matches_the_pair_counting_definition() -> None:
    rng = np.random.default_rng(5)
    x, y = rng.integers(0, 4, 12).astype(float), rng.integers(0, 4, 12).astype(float)
    concordant = discordant = ties_x = ties_y = 0
    for i, j in itertools.combinations(range(12), 2):
        a, b = np.sign(x[i] - x[j]), np.sign(y[i] - y[j])
        concordant += a * b > 0
        discordant += a * b < 0
        ties_x += a == 0 and b != 0
        ties_y += b == 0 and a != 0
    n0 = concordant + discordant
    expected = (concordant - discordant) / np.sqrt((n0 + ties_x) * (n0 + ties_y))
    assert kendall_tau(x, y) == pytest.approx(expected)
    assert kendall_tau(np.ones(3), np.arange(3.0)) == 0.0


def test_rules_briefs_cite_real_content_with_the_figures_from_the_data() -> None:
    data = _data()
    report = PipelineScorer(models=("first", "linear"), briefs=2).report(data)
    assert report.run.produced_by == "rules" and not report.run.fallback
    assert report.run.prompt_id == "pipeline_scorer"
    # Only cs-x has a known title: '/blog/a' and '/blog/b' are never titled from their slugs.
    assert len(report.briefs) == 1
    brief = report.briefs[0]
    assert [c.content_id for c in brief.based_on] == ["cs-x"]
    linear = attribute(data.journeys["pipeline", "content"], model="linear").by_key()
    first = attribute(data.journeys["pipeline", "content"], model="first").by_key()
    citation = brief.based_on[0]
    assert citation.pipeline == pytest.approx((linear["cs-x"].value + first["cs-x"].value) / 2)
    assert citation.revenue == pytest.approx(600.0)
    assert citation.deals == 2 and citation.title == "How X doubled SQLs"
    assert brief.format == "case study" and "How X doubled SQLs" in brief.title
    assert "2 converting deals" in brief.angle
    assert brief.title == "How X doubled SQLs, one level deeper"  # nothing else is known
    assert 4 <= len(brief.outline) <= 6 and all(s.source for s in brief.outline)
    assert {s.source for s in brief.outline} <= {"cs-x", "attribution:cs-x"}


class FakeRetriever:
    """Records calls; one content passage per id (with its library title) and pain notes."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[str, ...]]] = []

    def __call__(
        self, query: str, *, kind: Literal["content", "contacts"], ids: Sequence[str], k: int
    ) -> list[Passage]:
        self.calls.append((kind, tuple(ids)))
        if kind == "content":
            return [
                Passage(
                    id=f"chunk-{i}",
                    source_id=i,
                    kind="content",
                    title={"/blog/a": "Forecasts your CFO trusts"}.get(i, "How X doubled SQLs"),
                    topics=("forecasting", "revops"),
                    section="Weekly pipeline reviews",
                    type="blog_post",
                    text="Pipeline velocity and forecasting for revenue operations teams. "
                    "Review stuck deals every Monday.",
                )
                for i in ids
            ]
        return [
            Passage(
                id=f"note-{c}",
                source_id=c,
                kind="contacts",
                type="transcript_insight",
                text=f'Pain raised on the call: "{c}: our forecasting is a spreadsheet nobody '
                'trusts".',
            )
            for c in ids
        ] + [Passage(id="note-x", source_id="x", kind="contacts", type="enrichment",
                     text="Enrichment: uses HubSpot; 40 employees.")]  # fmt: skip


def test_briefs_are_built_from_the_content_and_the_buyers_pains() -> None:
    retriever = FakeRetriever()
    report = PipelineScorer(models=("linear",), briefs=2, retrieve=retriever).report(_data())
    brief = report.briefs[0]
    key = brief.based_on[0].content_id
    assert ("content", (key,)) in retriever.calls
    contacts = next(ids for kind, ids in retriever.calls if kind == "contacts")
    assert set(contacts) <= {"c1", "c2", "c3", "c9"} and contacts
    assert brief.themes[:2] == ("forecasting", "revops")  # the library's own topics first
    assert brief.target_pains and "spreadsheet nobody trusts" in brief.target_pains[0]
    assert all("Enrichment" not in p for p in brief.target_pains)  # a note that is not a pain
    # The '/blog/a' brief takes its title from the library, not from the slug "a".
    titles = {b.based_on[0].content_id: b.based_on[0].title for b in report.briefs}
    assert titles.get("/blog/a") == "Forecasts your CFO trusts"
    assert brief.title.startswith(brief.based_on[0].title or "-")
    sources = {s.source for s in brief.outline}
    assert 4 <= len(brief.outline) <= 6
    assert f"chunk-{key}" in sources and any(s.startswith("note-") for s in sources)
    assert any("Weekly pipeline reviews" in s.heading for s in brief.outline)
    assert brief.avoid and "Pipeline velocity and forecasting" in brief.avoid[0]
    assert f"chunk-{key}" in brief.evidence and any(e.startswith("note-") for e in brief.evidence)


FAST = Retrying(
    stop=stop_after_attempt(2),
    wait=wait_none(),
    retry=retry_if_exception(is_transient),
    reraise=True,
)


def outline(*sources: str) -> list[dict[str, str]]:
    return [{"heading": f"Part {n}", "point": "p", "source": src} for n, src in enumerate(sources)]


def llm_brief(based_on: str, sources: Sequence[str], **fields: object) -> dict[str, object]:
    fixed = {"title": "t", "format": "blog post", "angle": "a", "themes": ["x"], "avoid": []}
    return {**fixed, "outline": outline(*sources), "based_on": [based_on], **fields}


def test_llm_backend_writes_the_words_but_never_the_figures() -> None:
    draft = {
        "briefs": [
            llm_brief(
                "cs-x",
                ["cs-x", "attribution:cs-x", "cs-x", "cs-x"],
                title="Forecasting without spreadsheets",
                format="ebook",
                angle="It drove $9,999,999 of pipeline.",
                avoid=["The SQL story again"],
            )
        ]
    }
    model = ScriptedChatModel(script=[draft])
    scorer = PipelineScorer(models=("linear",), briefs=1, brain=Brain(model, transient=FAST))
    report = scorer.report(_data())
    assert report.run.produced_by == "llm" and report.run.prompt_version == 2
    brief = report.briefs[0]
    assert brief.title == "Forecasting without spreadsheets"
    assert [s.source for s in brief.outline] == ["cs-x", "attribution:cs-x", "cs-x", "cs-x"]
    assert brief.avoid == ("The SQL story again",)
    linear = attribute(_data().journeys["pipeline", "content"], model="linear").by_key()
    assert brief.based_on[0].pipeline == pytest.approx(linear["cs-x"].value)  # not the model's
    assert brief.based_on[0].pipeline == pytest.approx(900.0)
    prompt = model.calls[0]
    text = " ".join(str(m.content) for m in prompt)
    assert '<data name="candidates"' in text and "cs-x" in text


def test_llm_citing_unknown_content_or_sources_is_asked_again_then_falls_back() -> None:
    retriever = FakeRetriever()
    bad_id = {"briefs": [llm_brief("/blog/invented", ["cs-x"] * 4)]}
    bad_source = {"briefs": [llm_brief("cs-x", ["cs-x", "chunk-made-up", "cs-x", "cs-x"])]}
    short = {"briefs": [llm_brief("cs-x", ["cs-x"] * 3)]}
    good = {"briefs": [llm_brief("cs-x", ["chunk-cs-x", "note-c3", "cs-x", "cs-x"], title="Fixed")]}
    model = ScriptedChatModel(script=[bad_id, bad_source, short, good])
    scorer = PipelineScorer(
        models=("linear",), briefs=1, retrieve=retriever,
        brain=Brain(model, transient=FAST, max_retries=3),
    )  # fmt: skip
    report = scorer.report(_data())
    assert report.run.reasks == 3 and report.briefs[0].title == "Fixed"
    asked = [str(call[-1].content) for call in model.calls[1:]]
    assert "based_on must list candidate ids only" in asked[0]
    assert "outline sources ['chunk-made-up'] are not among the ids given" in asked[1]
    assert "the outline needs 4 to 6 sections, not 3" in asked[2]
    stubborn = ScriptedChatModel(script=[bad_id], repeat_last=True)
    report = PipelineScorer(
        models=("linear",), briefs=1, brain=Brain(stubborn, transient=FAST)
    ).report(_data())
    assert report.run.fallback and report.run.produced_by == "rules"
    assert report.briefs[0].based_on[0].content_id == "cs-x"


def test_rendered_prompt_matches_its_snapshot() -> None:
    rendered = load_prompt("pipeline_scorer").render(
        briefs=2, candidates='[{"content_id": "cs-x"}]', evidence="[chunk-1] (cs-x) text"
    )
    assert BriefDrafts.model_json_schema()["required"] == ["briefs"]
    assert rendered.as_text() == SNAPSHOT.read_text(encoding="utf-8")


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ConfigError, match="at least one model"):
        PipelineScorer(models=())
    with pytest.raises(ConfigError, match="top_k"):
        PipelineScorer(top_k=0)


# ------------------------------------------------------------------ HTML and charts


def test_html_report_is_self_contained_with_models_figures_and_scores(tmp_path: Path) -> None:
    report = PipelineScorer(models=("first", "markov"), briefs=1).report(_data())
    scorer = default_scorer()
    scores = [scorer.score(Contact(id=f"c{i}", title="VP"), [], as_of=at(0)) for i in range(5)]
    path = write_html(tmp_path / "r" / "report.html", report, scores, thresholds=scorer.thresholds)
    html = path.read_text(encoding="utf-8")
    assert "<script" not in html and "http://" not in html.replace("http://www.w3.org", "")
    for text in (
        "first",
        "markov",
        "Pipeline created by content",
        "Model agreement",
        "Lead score distribution (5 contacts)",
        "mql (40)",
        "How X doubled SQLs",
    ):
        assert text in html, text
    linear_top = report.section("pipeline", "content").top[0]
    assert f"{linear_top.by_model['first']:,.0f}" in html
    assert html.count("<svg") == 3 + 1  # three sections + the score histogram
    assert render_html(report).count("No contacts scored") == 1
    built = PipelineScorer(models=("linear",), briefs=1, retrieve=FakeRetriever()).report(_data())
    page = render_html(built)
    for text in ("Outline:", "Do not repeat:", "Target pains:", "[chunk-cs-x]", "[note-c3]"):
        assert text in page, text


def test_svg_charts_are_well_formed_and_escape_text() -> None:
    bars = grouped_bars(["<b>", "x"], {"m&m": [1.0, 2.0]}, title="t").svg()
    root = ET.fromstring(bars)
    assert root.tag.endswith("svg") and "&lt;b&gt;" in bars and "m&amp;m" in bars
    hist = histogram([1, 2, 2, 3], markers={"mql": 2.5}, title="h").svg()
    assert ET.fromstring(hist).tag.endswith("svg") and "mql (2.5)" in hist
    assert ET.fromstring(histogram([], title="empty").svg()) is not None
    money = grouped_bars(["$40k deal"], {"linear": [1.0]}).svg()
    assert "$40k deal" in money  # a dollar sign is text, not matplotlib's math mode
    assert Threshold("a", 1).at_least == 1


def test_context_retriever_reads_a_real_context_store(tmp_path: Path) -> None:
    context = pytest.importorskip("gtmflow.tools.context.context_store")
    from gtmflow.agents.pipeline_scorer import context_retriever
    from gtmflow.models import ContentItem

    with context.ContextStore.open(tmp_path / "chroma", embedder="hashing") as store:
        store.upsert_content([
            ContentItem(id="cs-x", title="How X doubled SQLs", type="case_study",
                        topics=("forecasting",),
                        body="# Forecasting\n\nForecasting pipeline velocity with fewer "
                             "spreadsheets."),
            ContentItem(id="blog-a", title="Forecasts your CFO trusts", type="blog_post",
                        url="https://acme.example/blog/a", body="Weekly reviews of stuck deals."),
            ContentItem(id="other", title="Other", body="Unrelated pricing page."),
        ])  # fmt: skip
        store.remember_transcript("c3", "t-1", ["Our forecasting is a spreadsheet nobody trusts."])
        store.remember("c1", "Enrichment: uses HubSpot.", source="enrichment")
        retrieve = context_retriever(store)
        chunks = retrieve("forecasting", kind="content", ids=["cs-x"], k=3)
        assert chunks and {p.source_id for p in chunks} == {"cs-x"}
        assert chunks[0].title == "How X doubled SQLs" and chunks[0].topics == ("forecasting",)
        by_path = retrieve("anything", kind="content", ids=["/blog/a"], k=3)
        assert [p.source_id for p in by_path] == ["blog-a"]  # the page's path, resolved
        notes = retrieve("pains", kind="contacts", ids=["c3", "c1"], k=2)
        assert {p.kind for p in notes} == {"contacts"} and any(
            "spreadsheet" in p.text for p in notes
        )
        report = PipelineScorer(models=("linear",), briefs=2, retrieve=retrieve).report(_data())
    brief = report.briefs[0]
    assert brief.based_on[0].content_id == "cs-x"  # the linear model's top content
    assert any(e.startswith("cs-x#") for e in brief.evidence)
    assert brief.target_pains == ("your forecasting is a spreadsheet nobody trusts",) or (
        brief.target_pains and "spreadsheet nobody trusts" in brief.target_pains[0]
    )
    assert brief.format == "case study" and brief.themes[0] == "forecasting"
    titled = {b.based_on[0].content_id: b.based_on[0].title for b in report.briefs}
    assert titled == {"cs-x": "How X doubled SQLs", "/blog/a": "Forecasts your CFO trusts"}
