"""Messages people read: printed as written (brackets included), with the likely fix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from gtmflow.brains import BrainsConfig
from gtmflow.cli import app
from gtmflow.cli._common import console, styled, table
from gtmflow.errors import ConfigError, FallbackWarning

from .conftest import at, ev, write_events
from .local_servers import HTTPReceiver

runner = CliRunner()


def test_brackets_in_an_error_message_are_printed_not_eaten(tmp_path: Path) -> None:
    runner.invoke(app, ["init", str(tmp_path)])
    (tmp_path / "rules.py").write_text(
        "from gtmflow import pipes as p\n"
        "RULES = [p.Rule('x', when=p.event('page_view'), then=42)]\n"
    )
    result = runner.invoke(app, ["run", "-w", str(tmp_path), "--as-of", "2026-03-05T00:00Z"])
    assert result.exit_code == 2
    assert "then=[alert_sales(), action('create_task')]" in result.output


def test_brackets_in_table_cells_and_titles_survive(tmp_path: Path) -> None:
    runner.invoke(app, ["init", str(tmp_path)])
    events = write_events(tmp_path / "events[1].jsonl", [ev("a", "page_view", "c", at(0))])
    result = runner.invoke(app, ["ingest", "events", str(events), "-w", str(tmp_path)])
    assert result.exit_code == 0 and "events[1].jsonl" in result.output


def test_styling_is_explicit_and_values_stay_literal(capsys: object) -> None:
    out = console()
    with out.capture() as captured:
        out.print("pip install 'gtmflow[ollama]'")
        out.print(styled("[bold]error:[/] {}", "[red]not a style[/]"))
        out.print(table("t [x]", ["a[b]"], [["[c]"]]))
    text = captured.get()
    assert "pip install 'gtmflow[ollama]'" in text
    assert "error: [red]not a style[/]" in text
    assert "t [x]" in text and "a[b]" in text and "[c]" in text


def _analyze(tmp_path: Path, receiver_url: str, *extra: str) -> Result:
    from gtmflow.examples.sample_transcripts import SELLER, write_sample_transcripts

    path = write_sample_transcripts(tmp_path / "calls")[0]
    env = {"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": receiver_url}
    args = ["analyze", str(path), "--seller-company", SELLER, "--embeddings", "off"]
    return runner.invoke(
        app, [*args, "--brain", "openai:gpt-4.1-mini", "-w", str(tmp_path), *extra], env=env
    )


def test_an_llm_brain_falling_back_to_rules_prints_a_warning_line(tmp_path: Path) -> None:
    with HTTPReceiver([401]) as server:  # a bad key: not transient, so no retries
        result = _analyze(tmp_path, server.url("/v1"), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["run"]["fallback"] is True
    stderr = " ".join(result.stderr.split())  # rich wraps at the terminal's width
    assert stderr.count("warning:") == 1  # one line per agent and reason, not one per call
    assert "warning: agent 'transcript_analyst' fell back to its rules backend" in stderr
    assert 'set [brains] on_failure = "error"' in stderr


def test_on_failure_error_stops_instead_of_falling_back(tmp_path: Path) -> None:
    (tmp_path / "gtmflow.toml").write_text('[brains]\non_failure = "error"\n')
    with HTTPReceiver([401]) as server:
        result = _analyze(tmp_path, server.url("/v1"))
    assert result.exit_code == 1
    assert "failed:" in result.stderr and "openai:gpt-4.1-mini" in result.stderr


def test_a_misspelled_on_failure_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "gtmflow.toml").write_text('[brains]\non_failure = "raise-it"\n')
    with pytest.raises(ConfigError, match=r'choose "fallback"'):
        BrainsConfig.load(tmp_path)


def test_the_library_issues_a_fallback_warning_a_notebook_shows() -> None:
    from pydantic import BaseModel

    from gtmflow.brains import Brain
    from gtmflow.prompts import RenderedPrompt
    from gtmflow.testing import ModelHTTPError, ScriptedChatModel

    class City(BaseModel):
        name: str

    brain = Brain(ScriptedChatModel(script=[ModelHTTPError(401)]), agent="geo", max_retries=0)
    with pytest.warns(FallbackWarning, match="agent 'geo' fell back"):
        outcome = brain.run(
            City, RenderedPrompt("demo", 1, "s", "u"), rules=lambda: City(name="rules")
        )
    assert outcome.output.name == "rules"
