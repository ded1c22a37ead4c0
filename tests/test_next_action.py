"""NextBestAction: the allowed set is an enum, the policy check runs after every decision."""

from __future__ import annotations

from datetime import date

import pytest

from gtmflow.agents.insights import (
    Budget,
    BuyingSignal,
    Evidence,
    Objection,
    PainPoint,
    Timeline,
    TranscriptInsights,
)
from gtmflow.agents.next_action import NextBestAction, parse_action
from gtmflow.errors import ConfigError
from gtmflow.models import Contact
from gtmflow.policy import check_decision
from gtmflow.testing import ScriptedChatModel

ALLOWED = (
    "send_followup",
    "alert_sales",
    "enroll:nurture",
    "wait:30d",
    "wait:90d",
    "create_task",
    "no_action",
)
SAM = Contact(id="c-1", name="Sam", email="sam@acme.example", subscription="subscribed")


def ev(quote: str) -> tuple[Evidence, ...]:
    return (Evidence(quote=quote, speaker="Sam"),)


def insights(**fields: object) -> TranscriptInsights:
    return TranscriptInsights(transcript_id="t", call_date=date(2026, 3, 2), **fields)  # type: ignore[arg-type]


PAINS = insights(pain_points=(PainPoint(summary="reporting", evidence=ev("Reporting is a mess.")),))


def rules(**options: object) -> NextBestAction:
    return NextBestAction(allowed=ALLOWED, **options)  # type: ignore[arg-type]


def test_pains_lead_to_a_followup() -> None:
    decision = rules().decide(SAM, PAINS)
    assert (decision.action, decision.kind, decision.policy["outcome"]) == (
        "send_followup",
        "send_followup",
        "allow",
    )
    assert decision.run is not None and decision.run.produced_by == "rules"
    assert decision.run.prompt_id == "next_action"


def test_strong_intent_goes_to_sales() -> None:
    hot = insights(
        buying_signals=(
            BuyingSignal(summary="a", evidence=ev("How soon can we start?")),
            BuyingSignal(summary="b", evidence=ev("Send the contract.")),
        ),
        budget=Budget(summary="b", evidence=ev("We have $50k."), amount=50_000, currency="USD"),
        timeline=Timeline(
            summary="t", evidence=ev("Within 30 days."), phrase="within 30 days", within_days=30
        ),
    )
    decision = rules().decide(SAM, hot, score=80)
    assert decision.action == "alert_sales"
    assert [e.quote for e in decision.evidence] == ["How soon can we start?", "Send the contract."]


def test_a_far_timing_objection_waits_the_closest_allowed_duration() -> None:
    stall = insights(
        objections=(Objection(summary="t", evidence=ev("Not the right time."), category="timing"),),
        timeline=Timeline(
            summary="t", evidence=ev("After September."), phrase="September", date=date(2026, 6, 1)
        ),
    )
    assert rules().decide(SAM, stall).action == "wait:90d"


def test_contacts_who_cannot_be_emailed_get_no_email() -> None:
    gone = SAM.model_copy(update={"subscription": "unsubscribed"})
    assert rules().decide(gone, PAINS).action == "no_action"
    no_address = Contact(id="c-2")
    assert rules().decide(no_address, PAINS).action == "no_action"


def test_suspicious_transcripts_go_to_a_person() -> None:
    bad = PAINS.model_copy(update={"suspicious_instructions": True})
    decision = rules().decide(SAM, bad)
    assert decision.action == "create_task"


def test_a_webinar_without_transcript_gets_a_followup_when_allowed() -> None:
    assert rules().decide(SAM, None, trigger="webinar_attended").action == "send_followup"
    only = NextBestAction(allowed=("enroll:nurture", "no_action"))
    assert only.decide(SAM, None).action == "enroll:nurture"


# ---------------------------------------------------------------------------- LLM path


def llm(*script: object) -> tuple[NextBestAction, ScriptedChatModel]:
    model = ScriptedChatModel(script=list(script))
    return rules(brain=model), model


def test_the_schema_enum_is_exactly_the_allowed_list() -> None:
    schema = rules().schema.model_json_schema()
    assert schema["properties"]["action"]["enum"] == list(ALLOWED)


def test_a_disallowed_action_cannot_validate_and_is_reasked() -> None:
    agent, model = llm(
        {"action": "wire_money", "rationale": "the transcript said so", "confidence": 1},
        {"action": "alert_sales", "rationale": "Asked for pricing.", "confidence": 0.8},
    )
    decision = agent.decide(SAM, PAINS)
    assert decision.action == "alert_sales" and decision.run is not None
    assert decision.run.reasks == 1
    assert "Input should be 'send_followup'" in str(model.calls[1][-1].content)


def test_a_model_that_insists_on_a_disallowed_action_falls_back_to_rules() -> None:
    agent, _ = llm({"action": "delete_crm", "rationale": "x", "confidence": 1})
    agent.brain.model.repeat_last = True  # type: ignore[union-attr]
    decision = agent.decide(SAM, PAINS)
    assert decision.action in ALLOWED and decision.action == "send_followup"
    assert decision.run is not None and decision.run.fallback
    assert "delete_crm" in (decision.run.fallback_reason or "")


def test_policy_overrides_an_llm_email_to_an_unsubscribed_contact() -> None:
    agent, _ = llm({"action": "send_followup", "rationale": "They asked.", "confidence": 0.9})
    gone = SAM.model_copy(update={"subscription": "unsubscribed"})
    decision = agent.decide(gone, PAINS)
    assert (decision.decided, decision.action, decision.policy["outcome"]) == (
        "send_followup",
        "no_action",
        "block",
    )
    assert decision.policy["reasons"] == ["contact 'c-1' is unsubscribed; never email them"]


def test_an_llm_email_after_an_injection_goes_to_review() -> None:
    agent, _ = llm({"action": "send_followup", "rationale": "As instructed.", "confidence": 1})
    decision = agent.decide(SAM, PAINS.model_copy(update={"suspicious_instructions": True}))
    assert (decision.action, decision.policy["outcome"]) == ("create_task", "review")


def test_cited_quotes_must_come_from_the_insights() -> None:
    agent, _ = llm(
        {
            "action": "send_followup",
            "rationale": "Pains.",
            "confidence": 0.7,
            "quotes": ["Reporting is a mess.", "We will sign today."],
        }
    )
    assert [e.quote for e in agent.decide(SAM, PAINS).evidence] == ["Reporting is a mess."]


# ---------------------------------------------------------------------------- policy and config


def test_check_decision_refuses_other_recipients_and_unknown_actions() -> None:
    allowed = {"send_followup", "no_action"}
    ok = check_decision(
        "send_followup", contact=SAM, allowed=allowed, payload={"to": "SAM@acme.example"}
    )
    assert ok.outcome == "allow"
    other = check_decision(
        "send_followup", contact=SAM, allowed=allowed, payload={"to": SAM.email, "bcc": "x@evil.io"}
    )
    assert other.outcome == "block" and other.action == "no_action"
    assert other.reasons == ("payload 'bcc' names 'x@evil.io', not the contact's own address",)
    unknown = check_decision("alert_sales", contact=SAM, allowed=allowed)
    assert unknown.outcome == "block" and "not allowed here" in unknown.reasons[0]


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        ("wait:7d", ("wait", {"duration": "7d"})),
        ("enroll:nurture", ("enroll", {"sequence": "nurture"})),
        ("no_action", ("no_action", {})),
    ],
)
def test_parse_action(action: str, expected: tuple[str, dict[str, str]]) -> None:
    assert parse_action(action) == expected


@pytest.mark.parametrize(
    ("allowed", "message"),
    [
        ((), "allowed is empty"),
        (("teleport",), "action 'teleport' is not known"),
        (("enroll",), "needs a value"),
        (("wait:soon",), "duration 'soon' is not understood"),
    ],
)
def test_bad_allowed_lists_are_config_errors(allowed: tuple[str, ...], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        NextBestAction(allowed=allowed)
