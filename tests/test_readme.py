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


def test_the_sample_emails_are_what_the_journey_writes(tmp_path: Path) -> None:
    """The README's three emails: the README's journey run as the notebook runs it."""
    from datetime import UTC, datetime, timedelta

    from gtmflow import VirtualClock, Workspace
    from gtmflow.examples.sample_content import sample_content_items
    from gtmflow.examples.sample_webinar import SAMPLE_ATTENDEES, add_sample_webinar
    from gtmflow.models import Event

    block = next(b for b in _blocks() if 'Sequence(\n    "webinar-followup"' in b)
    module = block.split("graph = build_sequence_graph")[0]
    (tmp_path / "journey.py").write_text(module + "RULES = [rule]\nSEQUENCES = [journey]\n")
    (tmp_path / "gtmflow.toml").write_text(
        '[gtmflow]\nrules = "journey:RULES"\nsequences = "journey:SEQUENCES"\n'
        "[governor]\nquiet_hours = false\n"
    )
    held, priya = datetime(2026, 3, 3, 16, tzinfo=UTC), SAMPLE_ATTENDEES[0].contact.id
    with Workspace.open(tmp_path, clock=VirtualClock(held)) as ws:
        ws.context.upsert_content(sample_content_items())
        add_sample_webinar(ws.events, at=held)
        ws.events.write_events([
            Event(id="o", type="email_open", contact_id=priya, timestamp=held + timedelta(days=1)),
            Event(id="v", type="page_view", contact_id=priya, timestamp=held + timedelta(days=5),
                  properties={"path": "/pricing"}),
        ])  # fmt: skip
        ws.run(as_of=held, progress=False)
        for day in range(12):
            ws.tick(held + timedelta(days=day), progress=False)
        written = [r.action.payload for r in ws.outbox.records(contact_id=priya)
                   if r.action.kind == "send_email"]  # fmt: skip
    text = README.read_text(encoding="utf-8")
    sample = re.search(r"```text\n(webinar-1 .*?)```", text, re.S)
    assert sample is not None
    parts = re.split(r"^(webinar-\S+) \([^)]*\): (.*)$", sample.group(1), flags=re.M)[1:]
    shown = [(parts[i], parts[i + 1], parts[i + 2]) for i in range(0, len(parts), 3)]
    assert [(t, s) for t, s, _ in shown] == [(e["template"], e["subject"]) for e in written]
    for (_, _, body), email in zip(shown, written, strict=True):
        paragraphs = [" ".join(p.split()) for p in body.strip().split("\n\n")]
        assert set(paragraphs) <= {" ".join(p.split()) for p in email["body"].split("\n\n")}
