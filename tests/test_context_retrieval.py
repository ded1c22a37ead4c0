"""Retrieval quality: paraphrased pains find the content that answers them; words alone do not.

The set below is owned by this test: each pain is how a prospect might say it, written to share
as few words as possible with the piece that answers it (checked below), as real pains do.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from gtmflow.examples.sample_content import (
    PAINS,
    sample_contact_notes,
    sample_content_items,
    seed_context,
)
from gtmflow.models import ContentItem
from gtmflow.tools.context.context_store import ContextStore
from gtmflow.tools.context.embeddings import GtmflowEmbedding, HashingEmbedding, MiniLMEmbedding

DOCS = {  # id: (title, body), written as short but real pieces of a content library
    "price": ("Plans and pricing", "Plans start at $490 a month. Every plan includes unlimited "
              "seats, so adding colleagues never raises the bill."),
    "discount": ("Early-stage program", "Seed-stage firms get 70% off the Growth plan in year one "
                 "and half off in year two."),
    "soc2": ("Audits and certifications", "An independent auditor renews our SOC 2 Type II "
             "attestation yearly, and an outside firm runs penetration tests."),
    "sso": ("Single sign-on and SCIM", "Enforce SAML sign-on through Okta or Entra ID and "
            "provision or deprovision accounts automatically with SCIM."),
    "residency": ("Data residency", "Workspaces can be hosted entirely in Frankfurt so records "
                  "and backups stay inside the EU under GDPR."),
    "hipaa": ("Healthcare and HIPAA", "Enterprise customers in the medical sector can sign a "
              "business associate agreement covering PHI."),
    "salesforce": ("Salesforce integration", "Two-way sync with Salesforce objects uses the Bulk "
                   "API to spare your daily API quota."),
    "warehouse": ("Warehouse sync", "Read tables from Snowflake or BigQuery, such as feature "
                  "adoption per account, and use them as workflow triggers."),
    "marketo": ("Migrating from Marketo", "Our kit converts Marketo smart campaigns into "
                "equivalent workflows and imports lead history."),
    "cutover": ("Cutover plan", "Run old and new routing side by side, then switch one source at "
                "a time so nothing is dropped."),
    "roi": ("Business case and ROI", "Payback usually arrives within five months, per our "
            "customer survey of time saved and tools retired."),
    "adoption": ("Rep adoption", "Explaining each assignment stops account executives doubting "
                 "that territories are split evenly."),
    "implementation": ("Guided implementation", "A solutions engineer builds your first "
                       "workflows with you during a 30-day program."),
    "support": ("Support plans", "Enterprise plans include round-the-clock help with a one-hour "
                "first response for urgent incidents."),
    "uptime": ("Reliability", "Availability was 99.98% last year, backed by an SLA with service "
               "credits."),
    "ai": ("AI and your data", "Customer records never train models used for anyone else, and "
           "providers keep nothing."),
    "scoring": ("Lead scoring", "Fit and intent models learn from your closed deals, not "
                "arbitrary points per click."),
    "churn": ("Renewal risk signals", "Falling weekly actives and a quiet champion flag accounts "
              "likely to leave before the renewal date."),
    "slack": ("Slack alerts", "Alerts land in a channel with a button to claim the lead "
              "instantly."),
    "audit": ("Audit log", "Every change records who edited which workflow and when, kept for a "
              "year."),
}  # fmt: skip
PAIN_SET = [
    ("how much will this cost us?", "price"),
    ("we're a tiny startup with almost no budget", "discount"),
    ("has a third party checked your security controls?", "soc2"),
    ("employees should log in with their company identity", "sso"),
    ("German law says our customer files must not leave Europe", "residency"),
    ("we're a hospital handling patient information", "hipaa"),
    ("our reps live in their CRM and we keep hitting its limits", "salesforce"),
    ("product usage numbers sit in our data platform", "warehouse"),
    ("we want off our old marketing automation tool", "marketo"),
    ("switching can't mean losing leads for a week", "cutover"),
    ("when would we earn the money back?", "roi"),
    ("salespeople think the distribution is rigged", "adoption"),
    ("nobody on our team has time to configure it", "implementation"),
    ("if something breaks at 3am who picks up?", "support"),
    ("how often are you down?", "uptime"),
    ("could what we upload end up improving a chatbot for other companies?", "ai"),
    ("we rank prospects by gut feel today", "scoring"),
    ("clients cancel without warning", "churn"),
    ("sellers need a ping when a hot prospect shows up", "slack"),
    ("compliance needs evidence of who modified automations", "audit"),
]
FLOOR = 0.85  # recall@5 the semantic embedder must reach; word matching stays far below it
STOP = frozenset((
    "a", "an", "and", "are", "as", "at", "be", "by", "can", "do", "does", "every", "for", "from",
    "get", "has", "how", "in", "is", "it", "its", "of", "on", "or", "our", "so", "the", "their",
    "them", "they", "this", "to", "use", "we", "when", "who", "will", "with", "your", "you",
))  # fmt: skip


def _recall_at_5(embedder: GtmflowEmbedding, folder: Path) -> float:
    items = [ContentItem(id=key, title=title, body=body) for key, (title, body) in DOCS.items()]
    with ContextStore.open(folder, embedder=embedder) as store:
        store.upsert_content(items)
        found = [want in {h.source_id for h in store.content_for(q, k=5)} for q, want in PAIN_SET]
    return sum(found) / len(found)


def _words(text: str) -> set[str]:
    return {w.rstrip("s") for w in re.findall(r"[a-z0-9]+", text.lower())} - STOP


@pytest.fixture(scope="module")
def minilm() -> Iterator[MiniLMEmbedding]:
    yield MiniLMEmbedding()


def test_the_pains_share_few_words_with_their_answers() -> None:
    overlaps = [len(_words(q) & _words(" ".join(DOCS[want]))) for q, want in PAIN_SET]
    assert sum(overlaps) == 0, overlaps  # so any word-matching method can only guess


def test_semantic_recall_at_5_clears_a_floor_that_lexical_matching_fails(
    tmp_path: Path, minilm: MiniLMEmbedding
) -> None:
    semantic = _recall_at_5(minilm, tmp_path / "minilm")
    lexical = _recall_at_5(HashingEmbedding(), tmp_path / "lexical")
    assert semantic >= FLOOR, f"all-MiniLM-L6-v2 recall@5 {semantic:.2f} < {FLOOR}"
    assert lexical < FLOOR - 0.3, f"lexical recall@5 {lexical:.2f} is too close to the floor"


def test_the_demo_library_answers_its_prospects_pains(
    tmp_path: Path, minilm: MiniLMEmbedding
) -> None:
    notes = sample_contact_notes(contacts=60)
    with ContextStore.open(tmp_path, embedder=minilm) as store:
        seeded = seed_context(store, contacts=60)
        assert seeded["content"]["sources"] == len(sample_content_items()) == 41
        assert seed_context(store, contacts=60)["notes"]["chunks_added"] == 0  # idempotent
        found = [
            want in {h.source_id for h in store.content_for(p, k=5)} for want, p in PAINS.items()
        ]
        insight = next(n for n in notes if n.source == "transcript_insight")
        pain = store.for_contact(insight.contact_id, "what is their main concern?", k=5)
        assert any(h.metadata["source"] == "transcript_insight" for h in pain)
        assert {h.metadata["contact_id"] for h in pain} == {insight.contact_id}
    assert sum(found) / len(found) >= 0.8, found
