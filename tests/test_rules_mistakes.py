"""Mistakes in a workspace's rules.py: a ConfigError with file, line and the likely fix, exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gtmflow.cli import app
from gtmflow.config import load_rules
from gtmflow.errors import ConfigError

runner = CliRunner()
AS_OF = "2026-03-05T00:00Z"


def _workspace(tmp_path: Path, rules: str) -> Path:
    assert runner.invoke(app, ["init", str(tmp_path)]).exit_code == 0
    (tmp_path / "rules.py").write_text(rules)
    return tmp_path


def test_a_misspelled_condition_names_the_line_and_the_right_name(tmp_path: Path) -> None:
    _workspace(
        tmp_path,
        "from gtmflow import pipes as p\n\n"
        "RULES = [\n"
        "    p.Rule('hot', when=p.cout('page_view', at_least=3), then=p.alert_sales()),\n"
        "]\n",
    )
    with pytest.raises(ConfigError) as caught:
        load_rules("rules:RULES", root=tmp_path)
    message = str(caught.value)
    assert f"{tmp_path / 'rules.py'}:4" in message
    assert "did you mean `count`?" in message


def test_a_syntax_error_is_a_config_error_with_file_and_line(tmp_path: Path) -> None:
    _workspace(tmp_path, "from gtmflow import pipes as p\n\nRULES = [p.Rule('x',\n")
    result = runner.invoke(app, ["run", "-w", str(tmp_path), "--as-of", AS_OF])
    assert result.exit_code == 2, result.output
    assert f"{tmp_path / 'rules.py'}:3" in " ".join(result.stderr.split())
    assert "syntax error" in result.stderr
    assert "Traceback" not in result.output


def test_json_mode_prints_an_error_object_on_stdout(tmp_path: Path) -> None:
    _workspace(tmp_path, "from gtmflow import pipes as p\nRULES = [p.cout('x')]\n")
    result = runner.invoke(app, ["run", "-w", str(tmp_path), "--as-of", AS_OF, "--json"])
    assert result.exit_code == 2
    error = json.loads(result.stdout)["error"]
    assert error["type"] == "ConfigError" and error["exit_code"] == 2
    assert "rules.py:2" in error["message"] and "`count`" in error["message"]


def test_a_config_error_raised_inside_rules_keeps_its_message_and_gains_the_line(
    tmp_path: Path,
) -> None:
    _workspace(
        tmp_path,
        "from gtmflow import pipes as p\n"
        "RULES = [p.Rule('x', when=p.event('page_view', wihtin='7d'), then=p.alert_sales())]\n",
    )
    with pytest.raises(ConfigError, match=r"rules\.py:2: .*did you mean `within=`"):
        load_rules("rules:RULES", root=tmp_path)


def test_enrolling_in_a_misspelled_sequence_fails_when_the_rules_load(tmp_path: Path) -> None:
    _workspace(
        tmp_path,
        "from gtmflow import pipes as p\n"
        "RULES = [p.Rule('nurture-new', when=p.event('signup'), then=p.enroll('nurtrue'))]\n",
    )
    (tmp_path / "sequences.py").write_text(
        "from gtmflow.graphs.sequences import Sequence, send\n"
        "SEQUENCES = [Sequence('nurture', steps=[send('hello', subject='Hi', body='Hello')])]\n"
    )
    result = runner.invoke(app, ["run", "-w", str(tmp_path), "--as-of", AS_OF])
    assert result.exit_code == 2, result.output
    message = " ".join(result.stderr.split())
    assert "unknown sequence 'nurtrue'" in message and "did you mean 'nurture'?" in message


def test_deliver_and_tick_show_held_and_cancelled_with_their_reasons(tmp_path: Path) -> None:
    from .conftest import at, ev, write_events

    _workspace(
        tmp_path,
        "from gtmflow import pipes as p\n"
        "RULES = [p.Rule('hot', when=p.event('page_view'),\n"
        "                then=p.action('send_email', subject='Hi', body='Hello'))]\n",
    )
    (tmp_path / "gtmflow.toml").write_text('[governor]\nquiet_hours = ["00:00", "23:59"]\n')
    path = write_events(tmp_path / "e.jsonl", [ev("e1", "page_view", "c-1", at(3, hours=10))])
    runner.invoke(app, ["ingest", "events", str(path), "-w", str(tmp_path)])
    assert runner.invoke(app, ["run", "-w", str(tmp_path), "--as-of", AS_OF]).exit_code == 0
    result = runner.invoke(app, ["deliver", "-w", str(tmp_path), "--json"])
    data = json.loads(result.stdout)
    assert data["held"] == 1 and data["sent"] == 0
    assert any(reason.startswith("held: ") for reason in data["reasons"])
    text = runner.invoke(app, ["deliver", "-w", str(tmp_path)]).stdout
    assert "held" in text and "cancelled" in text
