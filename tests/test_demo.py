"""The offline demo tells the whole foundation story and proves exactly-once."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from gtmflow.cli import app


def test_demo_json(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["demo", "--dir", str(tmp_path), "--contacts", "100", "--json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["ingest"]["events"]["rejected"] == 5
    assert [row["line"] for row in report["dead_letters"]] == sorted(
        row["line"] for row in report["dead_letters"]
    )
    assert any("has no timezone" in row["reason"] for row in report["dead_letters"])
    assert any("truncated" in row["reason"] for row in report["dead_letters"])
    assert set(report["run"]["by_rule"]) == {
        "ebook-nurture", "pricing-hot", "re-engage", "webinar-followup",
    }  # fmt: skip
    assert all(n > 0 for n in report["run"]["by_rule"].values())
    outbox, by_rule = report["outbox"], report["run"]["by_rule"]
    assert outbox["alert_sales"] == {"sent": by_rule["pricing-hot"]}
    enrolled = by_rule["ebook-nurture"] + by_rule["re-engage"] + by_rule["webinar-followup"]
    refused = outbox["enroll"].get("cancelled", 0)  # a second webinar while the first runs
    assert outbox["enroll"]["sent"] == enrolled - refused > 0  # each started a sequence thread
    assert outbox["send_email"]["sent"] > enrolled  # sequences went on past their first step
    assert outbox["send_email"].get("cancelled", 0) > 0  # unsubscribed contacts: never emailed
    assert report["tick"]["held"] > 0  # quiet hours held some, and released them later
    assert report["replay"] == {
        "accepted": 0,
        "duplicates": report["world"]["events"],
        "new_actions": 0,
        "new_deliveries": 0,
    }
    assert report["example"]["rules"][0]["rule"] == "pricing-hot"
    assert report["followups"]["by_rule"].get("followup:send_followup", 0) > 0
    webinar = report["webinar"]  # one attendee's three written emails, next to what she said
    assert len(webinar["said"]) == 3 and "HubSpot" in webinar["said"][1]
    emails = webinar["emails"]
    assert [e["status"] for e in emails] == ["sent"] * 3
    assert emails[0]["step"] == "webinar-1" and emails[2]["step"] == "webinar-3"
    assert "your CFO doesn't trust the attribution numbers" in emails[0]["body"]
    assert "HubSpot" in emails[1]["body"] and webinar["webinar"] in emails[0]["body"]
    delivered = Path(report["delivered_file"]).read_text().splitlines()
    keys = [json.loads(line)["idempotency_key"] for line in delivered]
    sent = sum(counts.get("sent", 0) for kind, counts in outbox.items() if kind != "enroll")
    assert len(keys) == len(set(keys)) == sent


def test_demo_starts_clean_each_time(tmp_path: Path) -> None:
    args = ["demo", "--dir", str(tmp_path), "--contacts", "40", "--json"]
    first = json.loads(CliRunner().invoke(app, args).stdout)
    # an older gtmflow's demo left its own sequences.py: this version's demo must not run it
    (tmp_path / "sequences.py").write_text("SEQUENCES = []\n")
    second = json.loads(CliRunner().invoke(app, args).stdout)
    assert first["run"] == second["run"]
    assert first["webinar"]["emails"] == second["webinar"]["emails"]
    assert len(second["webinar"]["emails"]) == 3


def test_demo_refuses_a_workspace_it_did_not_build(tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["init", str(tmp_path)]).exit_code == 0
    rules = (tmp_path / "rules.py").read_text() + "# my own rule\n"
    (tmp_path / "rules.py").write_text(rules)
    result = runner.invoke(app, ["demo", "-w", str(tmp_path), "--contacts", "40"])
    assert result.exit_code == 2
    assert "the demo did not create" in result.output and "gtmflow demo -w" in result.output
    assert (tmp_path / "rules.py").read_text() == rules  # nothing of theirs touched


def test_demo_tables_for_people(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["demo", "--dir", str(tmp_path), "--contacts", "40"])
    assert result.exit_code == 0, result.output
    for heading in ("ingest", "dead letter", "pricing-hot", "exactly", "explain", "Q&A of"):
        assert heading in result.stdout
