"""`gtmflow attribution`, `score` and `report` on a small demo workspace."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from gtmflow import Workspace
from gtmflow.cli.attribution_commands import register
from gtmflow.examples.sample_deals import generate_sample_deals
from gtmflow.examples.sample_world import generate_sample_world
from gtmflow.tools.attribution.journeys import Journeys, write_paths

app = typer.Typer()


@app.callback()
def _root() -> None:
    """A stand-in for the gtmflow app."""


register(app)
runner = CliRunner()


def run(*args: str) -> Any:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout) if "--json" in args else result.stdout


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("demo")
    world = generate_sample_world(root / "data", contacts=150)
    generate_sample_deals(root / "data")
    with Workspace.open(root) as ws:
        ws.ingest(world.contacts_csv, kind="contacts", progress=False)
        ws.ingest(world.events_jsonl, progress=False)
    yield root


def test_attribution_json_has_exactly_the_documented_shape(demo: Path) -> None:
    data = run("attribution", "-w", str(demo), "--json")
    assert list(data) == ["model", "order", "total_conversions", "total_value", "credits"]
    assert data["model"] == "linear" and data["order"] is None
    assert all(set(c) == {"key", "conversions", "value"} for c in data["credits"])
    assert sum(c["conversions"] for c in data["credits"]) == pytest.approx(
        data["total_conversions"]
    )
    assert sum(c["value"] for c in data["credits"]) == pytest.approx(data["total_value"])


@pytest.mark.parametrize(
    "model", ["first", "last", "time_decay", "position", "w_shaped", "markov", "shapley"]
)
def test_every_model_runs_at_content_level_for_revenue(demo: Path, model: str) -> None:
    # Shapley at the content level samples orderings (slow-ish); the channel level is exact.
    level = "channel" if model == "shapley" else "content"
    data = run(
        "attribution", "-w", str(demo), "--json", "--model", model, "--level", level,
        "--outcome", "revenue",
    )  # fmt: skip
    assert data["model"] == model
    assert sum(c["value"] for c in data["credits"]) == pytest.approx(data["total_value"])
    if model == "markov":
        assert data["order"] == 1 and all("removal_effect" in c for c in data["credits"])


def test_attribution_reads_path_files_with_separators(tmp_path: Path) -> None:
    paths = tmp_path / "paths.csv"
    write_paths(
        Journeys.from_paths([["a", "b"], ["b"]], conversions=[3, 1], nulls=[1, 5]),
        paths,
        delimiter=",",
        sep="|",
    )
    data = run(
        "attribution",
        "--paths",
        str(paths),
        "--delimiter",
        ",",
        "--sep",
        "|",
        "--model",
        "markov",
        "--order",
        "2",
        "--json",
        "-w",
        str(tmp_path),
    )
    assert data["order"] == 2 and data["total_conversions"] == 4
    by_key = {c["key"]: c for c in data["credits"]}
    assert by_key["a"]["removal_effect"] == pytest.approx(0.75)  # a -> b carries 3 of 4
    table = run(
        "attribution",
        "--paths",
        str(paths),
        "--delimiter",
        ",",
        "--sep",
        "|",
        "--model",
        "time_decay",
        "--half-life",
        "1",
    )
    assert "time_decay" in table and "journeys" in table


def test_attribution_mistakes_exit_2_with_a_hint(demo: Path, tmp_path: Path) -> None:
    bad = runner.invoke(app, ["attribution", "--model", "bogus", "-w", str(demo)])
    assert bad.exit_code == 2 and "is not one of" in bad.output
    empty = tmp_path / "empty"
    empty.mkdir()
    missing = runner.invoke(app, ["attribution", "-w", str(empty)])
    assert missing.exit_code == 2 and "--deals FILE" in missing.output


def test_score_lists_explains_and_emits_threshold_events(demo: Path) -> None:
    scores = run("score", "-w", str(demo), "--json")
    assert len(scores) == 150 and scores[0]["score"] >= scores[-1]["score"]
    top = scores[0]["contact_id"]
    one = run("score", top, "-w", str(demo), "--json")
    assert one["contact_id"] == top and one["lines"] and one["score"] == scores[0]["score"]
    assert "points as of" in run("score", top, "-w", str(demo))
    first = run("score", "-w", str(demo), "--emit")
    again = run("score", "-w", str(demo), "--emit")
    written = int(first.strip().splitlines()[-1].split()[0])
    assert written > 0 and again.strip().endswith("0 score_threshold_crossed events written")


def test_workspace_scoring_py_replaces_the_default(tmp_path: Path) -> None:
    (tmp_path / "scoring.py").write_text(
        "from gtmflow import pipes as p\n"
        "from gtmflow.tools.attribution.scoring import LeadScorer, fit\n"
        "SCORER = LeadScorer(rules=(fit('anyone', p.attr('id', exists=True), 7),))\n"
    )
    with Workspace.open(tmp_path) as ws:
        from gtmflow.models import Contact

        ws.events.write_contacts([Contact(id="c1")])
    assert run("score", "-w", str(tmp_path), "--json", "--as-of", "2026-01-01T00:00:00Z") == [
        {"contact_id": "c1", "score": 7.0, "groups": {"fit": 7.0}, "thresholds": []}
    ]
    (tmp_path / "scoring.py").write_text("SCORER = 3\n")
    broken = runner.invoke(app, ["score", "-w", str(tmp_path)])
    assert broken.exit_code == 2 and "SCORER = LeadScorer" in broken.output


def test_report_writes_self_contained_html_into_the_workspace(demo: Path) -> None:
    summary = run(
        "report", "-w", str(demo), "--json", "--models", "first,linear,markov", "--briefs", "2"
    )
    path = Path(summary["path"])
    assert path == demo / "reports" / "pipeline-report.html" and path.exists()
    html = path.read_text(encoding="utf-8")
    for name in ("first", "linear", "markov", "Lead score distribution", "Content briefs"):
        assert name in html
    assert summary["models"] == ["first", "linear", "markov"]
    assert set(summary["top"]) == {
        "pipeline/channel",
        "pipeline/content",
        "revenue/channel",
        "revenue/content",
    }
    assert len(summary["briefs"]) == 2 and summary["brain"]["produced_by"] == "rules"
    first_key = summary["top"]["pipeline/channel"][0]
    assert first_key in html


def test_score_backtest_checks_scores_against_later_deals(demo: Path) -> None:
    data = run("score", "--backtest", "--within", "30d", "-w", str(demo), "--json")
    assert data["within"] == "30d" and len(data["lift"]) == 10
    assert data["converted"] > 5 and data["contacts"] <= 150
    assert data["auc"] > 0.6  # demo requests and pricing views precede deals
    text = run("score", "--backtest", "-w", str(demo))
    assert "AUC" in text and "lift by decile" in text


def test_report_and_attribution_judge_as_of_the_same_default_moment(tmp_path: Path) -> None:
    """Deals created after the last event still count in the report, as in `attribution`."""
    root = tmp_path / "late"
    events = root / "events.jsonl"
    root.mkdir()
    rows = [
        {"id": f"e{i}", "type": "page_view", "contact_id": f"c{i}",
         "timestamp": "2026-03-01T10:00:00Z", "properties": {"path": "/blog", "utm_source": s}}
        for i, s in enumerate(["google", "linkedin", "google"])
    ]  # fmt: skip
    events.write_text("".join(json.dumps(r) + "\n" for r in rows))
    deals = root / "deals.jsonl"
    deal = {"amount": 1000, "stage": "open", "created_at": "2026-03-10T00:00:00Z"}
    lines = [json.dumps(deal | {"id": f"d{i}", "contact_ids": [f"c{i}"]}) for i in range(3)]
    deals.write_text("\n".join(lines) + "\n")
    with Workspace.open(root) as ws:
        ws.ingest(events, progress=False)
    credited = run("attribution", "-w", str(root), "--json")
    summary = run("report", "-w", str(root), "--json", "--briefs", "1", "--no-context")
    assert credited["total_conversions"] == 3 == summary["conversions"]
    assert summary["as_of"].startswith("2026-03-10")


def test_a_report_without_conversions_says_so_and_writes_no_brief(demo: Path) -> None:
    args = ["report", "-w", str(demo), "--as-of", "2025-01-01T00:00:00Z", "--briefs", "2"]
    summary = run(*args, "--json")
    assert summary["conversions"] == 0 and summary["briefs"] == []
    assert "no content brief was written" in summary["note"]
    assert "no content brief was written" in " ".join(run(*args).split())
