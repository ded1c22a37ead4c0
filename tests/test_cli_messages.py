"""Messages people read: printed as written (brackets included), with the likely fix."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from gtmflow.cli import app
from gtmflow.cli._common import console, styled, table

from .conftest import at, ev, write_events

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
