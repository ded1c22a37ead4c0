"""Files `gtmflow init` writes into a new workspace."""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["scaffold"]

RULES_PY = '''"""This workspace's rules: the three classic automation rules, and webinar follow-ups.

Edit freely; `gtmflow run` reloads this file every time. Each rule reads like what it does.
"""

from gtmflow import pipes as p

RULES = [
    # Someone downloads an ebook: enrol them in the nurture sequence.
    p.Rule(
        "ebook-nurture",
        when=p.event("content_download", asset_type="ebook"),
        then=p.enroll("nurture"),
    ),
    # Three pricing-page views within 7 days: tell sales.
    p.Rule(
        "pricing-hot",
        when=p.count("page_view", path="/pricing", at_least=3, within="7d"),
        then=p.alert_sales("Viewed pricing 3+ times in 7 days"),
    ),
    # No email opened for 30 days: re-engage.
    p.Rule(
        "re-engage",
        when=p.inactive("email_open", for_="30d"),
        then=p.enroll("re-engagement"),
    ),
    # Someone attended a webinar: three emails written from what they said in its Q&A.
    # (The cooldown lets a later webinar start a new journey; the same webinar never does.)
    p.Rule(
        "webinar-followup",
        when=p.event("webinar_attended"),
        then=p.enroll("webinar-followup"),
        cooldown="1d",
    ),
]
'''

SEQUENCES_PY = '''"""This workspace's sequences: what `enroll("...")` actions start.

Each sequence compiles to a LangGraph graph, one node per step; each enrollment runs as its own
thread. Waits are rows in the scheduler, resumed by `gtmflow tick`. A contact leaves at once when
an exit condition holds. `send` steps are fixed templates; `write` steps are written at send time
by the content writer from what the contact said, what they did since the last email and the
library content that answers them, never repeating what an earlier email said.
"""

from pathlib import Path

from gtmflow import pipes as p
from gtmflow.agents.content_writer import ContentWriter
from gtmflow.agents.transcript_analyst import TranscriptAnalyst
from gtmflow.graphs.sequences import Sequence, branch, send, wait, wait_for, write
from gtmflow.tools.transcripts import TranscriptFolder

HERE = Path(__file__).parent
SELLER = "Your Company"  # as your people appear in transcripts: "Dana (AE, Your Company): ..."
LEFT = p.event("meeting_booked") | p.event("email_replied") | p.event("unsubscribed")
ENGAGED = p.event("email_open", within="3d") | p.event("email_click", within="3d")

SEQUENCES = [
    Sequence(
        "nurture",
        steps=[
            send("nurture-1", subject="Your ebook, and the one idea to try first",
                 body="Hi {first_name}, thanks for downloading the guide. ..."),
            wait("3d"),
            branch(
                p.event("email_open", within="3d"),
                then=[send("nurture-2-engaged", subject="How teams like {company} put it to work",
                           body="Hi {first_name}, a short case study ...")],
                otherwise=[send("nurture-2-resend", subject="In case the guide got buried",
                                body="Hi {first_name}, the guide is here ...")],
            ),
            wait_for("demo_requested", timeout="7d", on_timeout=[
                send("nurture-3", subject="Want a 20-minute walkthrough?",
                     body="Hi {first_name}, if it helps, ..."),
            ]),
        ],
        exit_when=LEFT | p.event("demo_requested"),
        reenroll="after_cooldown",
        cooldown="60d",
    ),
    Sequence(
        "re-engagement",
        steps=[
            send("reengage-1", subject="Still interested in hearing from us?",
                 body="Hi {first_name}, it has been a while ..."),
            wait_for("email_open", timeout="7d", on_timeout=[
                send("reengage-2", subject="Should we stop writing?",
                     body="Hi {first_name}, one click keeps you on the list ..."),
            ]),
        ],
        exit_when=LEFT | p.event("email_open"),
        reenroll="after_exit",
    ),
    # A webinar_attended event: `webinar` is the title; `transcript` (the text) or
    # `transcript_id` (a file in transcripts/) holds what the person said in the Q&A.
    Sequence(
        "webinar-followup",
        steps=[
            write("webinar-1"),  # at once: answers their question and what they asked for
            wait("3d"),
            branch(
                ENGAGED,
                name="engaged",
                then=[write("webinar-2-engaged")],  # they read it: a new angle
                otherwise=[write("webinar-2-quiet")],  # they did not: shorter, another reason
            ),
            wait("7d"),
            write("webinar-3"),  # ten days on: a check-in on the first email's thread
        ],
        exit_when=LEFT | p.event("demo_requested"),
        reenroll="after_exit",
        # Each agent's brain comes from gtmflow.toml [brains] ("rules", offline, by default);
        # an email a model wrote waits for a person's approval (`gtmflow approvals`).
        writer=ContentWriter(sender=f"The {SELLER} team", root=HERE),
        analyst=TranscriptAnalyst(own_names=[SELLER], root=HERE),
        transcripts=TranscriptFolder(HERE / "transcripts", seller_company=SELLER),
    ),
]
'''

GRAPHS_PY = '''"""This workspace's graphs: `gtmflow run` and `gtmflow serve` run them after rules.

The follow-up graph answers finished sales calls. A `call_completed` event whose
`transcript_id` names a file in transcripts/ (or whose `transcript` property holds the text) is
analysed; the next-best-action agent picks one of ALLOWED; a follow-up email quoting what the
contact said is drafted when the choice is to send. Everything lands in the outbox, through the
governor, like the rules' actions. Attended webinars are the `webinar-followup` sequence's (see
rules.py): one trigger, one journey. Add "webinar_attended" to `triggers` only if you remove that
rule; whichever follows a trigger up first owns it, and the other is refused with its name.
"""

from pathlib import Path

from gtmflow.agents.content_writer import ContentWriter
from gtmflow.agents.next_action import NextBestAction
from gtmflow.agents.transcript_analyst import TranscriptAnalyst
from gtmflow.graphs.followup import build_followup_graph
from gtmflow.tools.transcripts import TranscriptFolder

HERE = Path(__file__).parent
SELLER = "Your Company"  # as your people appear in transcripts: "Dana (AE, Your Company): ..."
ALLOWED = ("send_followup", "alert_sales", "enroll:nurture", "wait:14d", "create_task", "no_action")

GRAPHS = [
    build_followup_graph(
        # Each agent's brain comes from gtmflow.toml [brains] ("rules", offline, by default).
        analyst=TranscriptAnalyst(own_names=[SELLER], root=HERE),
        decider=NextBestAction(allowed=ALLOWED, root=HERE),
        writer=ContentWriter(sender=f"The {SELLER} team", root=HERE),
        transcripts=TranscriptFolder(HERE / "transcripts", seller_company=SELLER),
        triggers=("call_completed",),
    ),
]
'''

GTMFLOW_TOML = """# gtmflow workspace settings
[gtmflow]
rules = "rules:RULES"              # module:attribute; rules.py in this folder comes first
sequences = "sequences:SEQUENCES"  # what enroll("...") starts
graphs = "graphs:GRAPHS"           # graphs run after the rules: the call follow-up

[outbox]
transport = "file"                 # "file": .gtmflow/delivered.jsonl, or "console"

[governor]                         # limits every outbound message passes at send time
frequency_cap = [3, "7d"]          # at most 3 messages per contact per 7 days
quiet_hours = ["20:00", "08:00"]   # in the recipient's timezone; held, not dropped
weekends = true
"""


def scaffold(
    root: Path, *, overwrite: bool = False, seller_company: str = "Your Company"
) -> list[Path]:
    """Write `gtmflow.toml`, `rules.py`, `sequences.py` and `graphs.py` (existing files are kept
    unless asked); `seller_company` is how your people appear in transcripts."""
    root.mkdir(parents=True, exist_ok=True)
    written = []
    files = (
        ("gtmflow.toml", GTMFLOW_TOML),
        ("rules.py", RULES_PY),
        ("sequences.py", SEQUENCES_PY.replace('"Your Company"', json.dumps(seller_company), 1)),
        ("graphs.py", GRAPHS_PY.replace('"Your Company"', json.dumps(seller_company), 1)),
    )
    for name, text in files:
        path = root / name
        if overwrite or not path.exists():
            path.write_text(text, encoding="utf-8")
            written.append(path)
    return written
