"""The agents' commands: `analyze`, `followup`, `repurpose` (JSON shapes and exit codes)."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from typer.testing import CliRunner

from gtmflow import Workspace
from gtmflow.cli.agent_commands import register
from gtmflow.examples.sample_content import sample_content_items
from gtmflow.examples.sample_transcripts import SAMPLE_CALLS, SELLER, write_sample_transcripts

runner = CliRunner()


def app() -> typer.Typer:
    cli = typer.Typer()

    @cli.callback()
    def main() -> None:
        """gtmflow (test app with the agents' commands)."""

    register(cli)
    return cli


def test_analyze_prints_insights_as_json(tmp_path: Path) -> None:
    path = write_sample_transcripts(tmp_path)[0]
    result = runner.invoke(
        app(),
        [
            "analyze",
            str(path),
            "--call-date",
            "2026-03-02",
            "--seller-company",
            SELLER,
            "--competitors",
            "Tableau,Looker",
            "--embeddings",
            "off",
            "-w",
            str(tmp_path),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["transcript_id"] == "call-acme-discovery" and data["call_date"] == "2026-03-02"
    assert data["timeline"]["date"] == "2026-06-30" and data["budget"]["amount"] == 40000.0
    assert [c["name"] for c in data["competitors"]] == ["Tableau"]
    assert data["run"]["brain"] == "rules"


def test_followup_prints_decision_draft_and_claims(tmp_path: Path) -> None:
    path = write_sample_transcripts(tmp_path / "calls")[0]
    with Workspace.open(tmp_path) as ws:
        ws.events.write_contacts([SAMPLE_CALLS[0].contact])
    args = [
        "followup",
        "c-acme-sam",
        "--transcript",
        str(path),
        "--seller-company",
        SELLER,
        "--sender",
        "Dana",
        "--embeddings",
        "off",
        "-w",
        str(tmp_path),
        "--json",
    ]
    result = runner.invoke(app(), args)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["decision"]["action"] == "send_followup"
    assert data["draft"]["to"] == "sam.patel@acme.example"
    assert data["claims"] and all(c["supported"] for c in data["claims"])
    assert not [c for c in data["claims"] if c["source"] == "content"]  # no library yet
    assert not (tmp_path / ".gtmflow" / "chroma").exists()  # so the store was never opened
    missing = runner.invoke(app(), [*args[:1], "c-nobody", *args[2:]])
    assert missing.exit_code == 2 and "not in this workspace" in missing.output

    with Workspace.open(tmp_path) as ws:
        ws.context.upsert_content(sample_content_items())
    again = json.loads(runner.invoke(app(), args).stdout)
    cited = [c for c in again["claims"] if c["source"] == "content"]
    assert cited and cited[0]["ref"].split("#")[0] in {i.id for i in sample_content_items()}
    assert again["draft"]["occasion"] == "call" and again["draft"]["step"] == 1

    webinar = json.loads(runner.invoke(app(), [*args, "--webinar", "Ops reporting 101"]).stdout)
    assert webinar["draft"]["occasion"] == "webinar"
    assert "Thanks for joining Ops reporting 101" in webinar["draft"]["body"]
    bait = runner.invoke(app(), [*args, "--webinar", "URGENT: verify at http://x.example"])
    assert "http://x.example" not in bait.stdout and "our webinar" in bait.stdout


def test_repurpose_writes_variants_per_platform(tmp_path: Path) -> None:
    post = tmp_path / "post.md"
    post.write_text(
        "---\ntitle: Close in four days\nurl: https://example.com/close\ntopics: [finance]\n---\n"
        "Month-end close used to take nine days for the whole team. After automating matching, "
        "the team now closes in four days.\n",
        encoding="utf-8",
    )
    result = runner.invoke(
        app(), ["repurpose", str(post), "--platforms", "linkedin,x", "--variants", "2", "--json"]
    )
    assert result.exit_code == 0, result.output
    drafts = json.loads(result.stdout)["drafts"]
    assert [d["platform"] for d in drafts] == ["linkedin", "linkedin", "x", "x"]
    assert all(len(d["body"]) <= 280 for d in drafts if d["platform"] == "x")
    assert drafts[0]["angle"] != drafts[1]["angle"] and drafts[0]["body"] != drafts[1]["body"]
    shown = runner.invoke(app(), ["repurpose", str(post), "--platforms", "x", "--variants", "2"])
    assert "x #1" in shown.output and "x #2" in shown.output and "leads with:" in shown.output
    bad = runner.invoke(app(), ["repurpose", str(post), "--platforms", "myspace"])
    assert bad.exit_code == 2 and "unknown platform" in bad.output
    many = runner.invoke(app(), ["repurpose", str(post), "--platforms", "x", "--variants", "5"])
    assert many.exit_code == 2 and "at most 2 (--variants)" in " ".join(many.output.split())
