"""Every Python example in the README runs and says what it claims."""

from __future__ import annotations

import doctest
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def _blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


def test_quickstart_output(capsys: pytest.CaptureFixture[str]) -> None:
    quickstart = next(b for b in _blocks() if "Workspace.open" in b)
    exec(compile(quickstart, "README.md", "exec"), {})
    printed = capsys.readouterr().out.strip()
    assert printed.startswith("5 ['ebook-nurture', 'pricing-hot', 're-engage'] ")


def test_doctest_blocks() -> None:
    for block in _blocks():
        if block.lstrip().startswith(">>>"):
            parser = doctest.DocTestParser()
            test = parser.get_doctest(block, {}, "README", str(README), 0)
            result = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS).run(test)
            assert result.failed == 0


def test_every_python_block_runs(capsys: pytest.CaptureFixture[str]) -> None:
    blocks = [b for b in _blocks() if not b.lstrip().startswith(">>>")]
    assert len(blocks) >= 5
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {})


def test_webinar_journey_prints_its_nodes(capsys: pytest.CaptureFixture[str]) -> None:
    journey = next(b for b in _blocks() if 'Sequence(\n    "webinar-followup"' in b)
    exec(compile(journey, "README.md", "exec"), {})
    printed = capsys.readouterr().out.strip()
    shown = re.findall(r"^# (.*)$", journey, re.M)[-2:]  # the output written under the print
    assert printed == " ".join(s.strip() for s in shown)
