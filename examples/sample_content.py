"""A realistic content library and contact notes for the demo workspace.

The library is 41 pieces (docs, blog posts, case studies, an ebook, webinar recaps) from
"Relay", the fictional revenue-workflow vendor whose site the sample world's events browse:
pricing, security and compliance, integrations, onboarding, ROI, migration, product and
reliability. The files ship in `gtmflow/examples/content/` as markdown, HTML and text with front
matter, exactly what `gtmflow ingest content DIR` reads.

Contact notes are what a team learns about contacts over a quarter: transcript insights, call
summaries, email replies and enrichment. They are generated from `seed` alone (no wall clock),
for the sample world's contact ids (`c-0001`, ...), so the same arguments give the same notes.
"""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta
from pathlib import Path
from random import Random
from typing import Final

from gtmflow.examples.sample_world import DEFAULT_END
from gtmflow.models import ContentItem
from gtmflow.tools.context.content_loader import load_content_dir
from gtmflow.tools.context.context_store import ContextStore
from gtmflow.tools.context.records import ContactNote

__all__ = [
    "CONTENT_DIR",
    "PAINS",
    "copy_sample_content",
    "sample_contact_notes",
    "sample_content_items",
    "seed_context",
]

CONTENT_DIR: Final = Path(__file__).parent / "content"
"""The shipped library: one file per piece, in a folder per theme."""

PAINS: Final = {  # what prospects say, and the piece of content that answers it best
    "pricing-plans": "honestly the per-user cost adds up fast for a team our size",
    "pricing-startup-program": "we're a seed-stage company and our budget is tiny",
    "security-review-package": "our infosec team will send a long questionnaire before legal "
    "signs anything",
    "docs-sso-scim": "IT insists every app goes through Okta and leavers lose access same day",
    "gdpr-data-residency": "our customers are in Germany so the data has to stay in Europe",
    "hipaa-healthcare": "we handle patient information so compliance has to approve vendors",
    "integration-salesforce": "everything we do lives in Salesforce and the API limits bite",
    "integration-warehouse": "our product usage data sits in Snowflake and sales never sees it",
    "migrate-from-marketo": "our Marketo instance has hundreds of smart campaigns nobody "
    "understands",
    "migrate-from-scripts": "an engineer wrote our assignment script years ago and just left",
    "migration-cutover": "we can't afford to lose leads while we switch systems",
    "roi-business-case": "I need numbers to convince my CFO this pays off",
    "blog-sales-adoption": "the reps think the current assignment favours certain people",
    "onboarding-implementation": "we have no ops person with time to set this up",
    "onboarding-academy": "new admins take months to learn our current tool",
    "support-sla": "when things break at night nobody from our current vendor answers",
    "reliability-uptime": "last year our vendor had an outage during our biggest launch",
    "ai-data-use": "legal wants to know whether our data trains someone's model",
    "blog-lead-scoring": "our scoring gives points to students who download every ebook",
    "blog-churn-signals": "we only learn an account is unhappy when they refuse to renew",
}
"""Paraphrased pains (few words shared with the answer) → id of the content that answers it."""

_SUMMARIES: Final = (
    "Discovery call: evaluating three vendors, decision expected before the end of the quarter.",
    "Demo went well; the VP asked for a pilot proposal with success criteria.",
    "Call summary: champion is supportive but procurement has not been looped in yet.",
    "Follow-up call: they want to see routing by territory and a Slack alert live.",
)
_REPLIES: Final = (
    "Thanks, this is helpful. Can you send pricing for about 40 users? We are comparing options.",
    "Not a priority this quarter, please check back in the summer.",
    "Looping in our security lead, who will have questions about data handling.",
    "Could we move the call to Thursday? Our board meeting moved.",
)
_STACKS: Final = ("Salesforce", "HubSpot", "Marketo", "Pardot", "Snowflake", "Segment", "Slack")


def copy_sample_content(target: str | Path) -> Path:
    """Copy the library into `target/content` (so a user can edit it) and return that folder."""
    destination = Path(target) / "content"
    shutil.copytree(CONTENT_DIR, destination, dirs_exist_ok=True)
    return destination


def sample_content_items() -> list[ContentItem]:
    """The shipped library as `ContentItem`s, sorted by file path."""
    return load_content_dir(CONTENT_DIR).items


def sample_contact_notes(
    *, contacts: int = 500, every: int = 10, seed: int = 7, end: datetime = DEFAULT_END
) -> list[ContactNote]:
    """Notes about every `every`-th contact (`c-0001`, `c-0011`, ...), dated before `end`.

    Each of those contacts gets a transcript insight stating one pain from `PAINS` (its
    metadata names the content that answers it), and sometimes a call summary, an email reply
    and enrichment.
    """
    notes: list[ContactNote] = []
    for number in range(1, contacts + 1, every):
        rng = Random(f"notes/{seed}/{number}")
        notes.extend(_notes_for(f"c-{number:04d}", rng, end))
    return notes


def seed_context(
    store: ContextStore, *, contacts: int = 500, seed: int = 7, end: datetime = DEFAULT_END
) -> dict[str, dict[str, object]]:
    """Load the library and the contact notes into `store` (idempotent); what each upsert did."""
    content = store.upsert_content(sample_content_items())
    notes = store.add_notes(sample_contact_notes(contacts=contacts, seed=seed, end=end))
    return {"content": content.to_json(), "notes": notes.to_json()}


def _notes_for(contact_id: str, rng: Random, end: datetime) -> list[ContactNote]:
    answer, pain = rng.choice(sorted(PAINS.items()))
    day = end - timedelta(days=rng.randrange(3, 80), hours=rng.randrange(9, 18))
    notes = [
        ContactNote(
            contact_id=contact_id,
            id="insight-1",
            source="transcript_insight",
            date=day,
            text=f'Pain raised on the call: "{pain}".',
            metadata={"answered_by": answer},
        )
    ]
    if rng.random() < 0.6:
        notes.append(_note(contact_id, "summary", rng.choice(_SUMMARIES), day))
    if rng.random() < 0.5:
        notes.append(_note(contact_id, "reply", rng.choice(_REPLIES), day + timedelta(days=2)))
    if rng.random() < 0.7:
        stack = ", ".join(sorted(rng.sample(_STACKS, 3)))
        text = f"Enrichment: uses {stack}; {rng.choice((12, 35, 80, 150, 320))} employees."
        notes.append(_note(contact_id, "enrichment", text, day - timedelta(days=20)))
    return notes


def _note(contact_id: str, source: str, text: str, when: datetime) -> ContactNote:
    return ContactNote(contact_id=contact_id, id=f"{source}-1", source=source, text=text, date=when)
