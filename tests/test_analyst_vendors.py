"""The analyst names vendors by context with their role, keeps the seller's names out, and
types the prospect's asks; both brains, the workspace's `[analyst]` settings and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gtmflow.agents._asks import find_ask
from gtmflow.agents.insights import TranscriptInsights
from gtmflow.agents.next_action import NextBestAction
from gtmflow.agents.transcript_analyst import TranscriptAnalyst
from gtmflow.cli import app
from gtmflow.errors import ConfigError
from gtmflow.models import Contact, Transcript
from gtmflow.testing import ScriptedChatModel
from gtmflow.tools.transcripts import parse_transcript

SELLER = "Routewise"


def call(*prospect_lines: str, seller_says: str = "Thanks for the time today.") -> Transcript:
    lines = [f"Ana Duarte (Account Executive, {SELLER}): {seller_says}"]
    lines += [f"Rob Kessler (Plant Manager, Ferro Components): {line}" for line in prospect_lines]
    return parse_transcript("\n".join(lines), seller_company=SELLER).transcript


def analyse(transcript: Transcript, **options: object) -> TranscriptInsights:
    options.setdefault("embeddings", "off")
    options.setdefault("own_names", [SELLER])
    return TranscriptAnalyst(**options).analyze(transcript)  # type: ignore[arg-type]


def roles(insights: TranscriptInsights) -> dict[str, str]:
    return {m.name: m.role for m in insights.competitors}


def test_the_issues_example_finds_a_past_pilot_and_an_evaluation() -> None:
    insights = analyse(
        call(
            "We piloted Tulip on two lines last year and the operators liked it.",
            "But corporate now wants us on Sight Machine for the analytics side.",
        )
    )
    assert roles(insights) == {"Tulip": "past", "Sight Machine": "evaluating"}
    quotes = [e.quote for m in insights.competitors for e in m.evidence]
    assert quotes == [
        "We piloted Tulip on two lines last year and the operators liked it.",
        "But corporate now wants us on Sight Machine for the analytics side.",
    ]


def test_an_incumbent_is_found_and_the_crm_they_love_is_their_stack() -> None:
    insights = analyse(
        call(
            "We're on LeanData right now and the routing rules are a maze.",
            "Salesforce is our CRM and we love it, so whatever we pick has to live inside it.",
        )
    )
    assert roles(insights) == {"LeanData": "incumbent"}
    assert insights.competitors[0].sentiment == "negative"
    assert [(t.name, t.sentiment) for t in insights.stack] == [("Salesforce", "positive")]
    assert not any(o.category == "competition" for o in insights.objections)


@pytest.mark.parametrize(
    ("said", "name", "role"),
    [
        ("We run everything on gorilladesk and the techs like it.", "gorilladesk", "incumbent"),
        ("We moved off Monday.com in March.", "Monday.com", "past"),
        ("Honestly we're on 15Five for check-ins and managers ignore it.", "15Five", "incumbent"),
        ("Shopmonkey quoted us last month, but they want a two-year contract.", "Shopmonkey",
         "evaluating"),
        ("We also compared you with Chili Piper last quarter.", "Chili Piper", "evaluating"),
        ("We have been on iCIMS for six years.", "iCIMS", "incumbent"),
        ("We tried swapcard at one show and nobody used it.", "swapcard", "past"),
        ("Our sister site moved to Rebus last year.", "Rebus", "mentioned"),
        ("Bookings run on R4 and the crew hates how slow it is.", "R4", "incumbent"),
        ("We used Anchor for a season back in 2023, it didn't stick.", "Anchor", "past"),
        ("Then the invoices go out through billcraft, and we retype them.", "billcraft",
         "incumbent"),
        ("Our budgets are built in Stage Ledger, which everybody knows.", "Stage Ledger",
         "incumbent"),
        ("Our insurance company, Harbor Mutual, also has a claims tool we've been offered.",
         "Harbor Mutual", "evaluating"),
    ],
)  # fmt: skip
def test_names_by_how_they_are_talked_about(said: str, name: str, role: str) -> None:
    assert roles(analyse(call(said))) == {name: role}


@pytest.mark.parametrize(
    "said",
    [
        "We use spreadsheets and email for most of it.",
        "We're on the same page about the timeline.",
        "We're evaluating options for the second half.",
        "I'm talking to Linda about it on Tuesday.",
        "Registration runs through a Google Form today.",
        "We had an extruder down most of yesterday.",
        "We had Lunch with the board.",
        "Our schedule runs on Q3 numbers.",
    ],
)
def test_common_words_people_and_office_tools_are_not_vendors(said: str) -> None:
    assert analyse(call(said)).competitors == ()


def test_a_liked_tool_the_offer_works_with_is_their_stack() -> None:
    insights = analyse(
        call(
            "Slipway handles mobile pay and boaters are happy with it.",
            "Reservations run on Harborline and it crashes every weekend.",
            seller_says="Routewise takes payments from Slipway and replaces Harborline.",
        )
    )
    assert roles(insights) == {"Harborline": "incumbent"}
    assert [(t.name, t.sentiment) for t in insights.stack] == [("Slipway", "positive")]


def test_a_liked_incumbent_the_offer_does_not_connect_to_is_a_competitor() -> None:
    insights = analyse(call("We run everything on gorilladesk and the techs like the app."))
    assert roles(insights) == {"gorilladesk": "incumbent"}
    assert insights.stack == ()


def test_the_sellers_own_names_are_never_reported() -> None:
    transcript = call(
        "Could we try Routewise with just the SMB team?",
        "We compared your Routing Studio with Chili Piper.",
        seller_says="I'm Ana from Routewise, and our Routing Studio handles the round robin.",
    )
    insights = analyse(transcript, own_names=[])  # from the call itself: "I'm Ana from ..."
    assert roles(insights) == {"Chili Piper": "evaluating"}


def test_vendors_only_the_seller_named_are_not_the_prospects_mentions() -> None:
    insights = analyse(call("Sounds good.", seller_says="Most teams come to us from Chili Piper."))
    assert insights.competitors == ()


def test_the_default_list_is_a_prior_not_a_gate() -> None:
    transcript = call("We use Hubspot for the newsletter.", "We trialed Sight Machine last year.")
    insights = analyse(transcript, competitors=[])
    assert roles(insights) == {"HubSpot": "incumbent", "Sight Machine": "past"}


# ---------------------------------------------------------------------------- asks


ISSUE_ASKS = [
    ("Can you share that migration template?", "material", "migration template"),
    ("Is there a customer like us we could speak with?", "reference", None),
    ("How would pricing work if we started with one team?", "pricing", None),
]


def test_the_issues_asks_are_typed_and_are_buying_signals() -> None:
    insights = analyse(call(*(said for said, _, _ in ISSUE_ASKS)))
    assert [(a.kind, a.evidence[0].quote) for a in insights.asks] == [
        (kind, said) for said, kind, _ in ISSUE_ASKS
    ]
    assert insights.asks[0].item is not None and "migration template" in insights.asks[0].item
    signals = {e.quote for s in insights.buying_signals for e in s.evidence}
    assert signals >= {said for said, _, _ in ISSUE_ASKS}


@pytest.mark.parametrize(
    ("said", "kind"),
    [
        ("Could we try it with just the kids ministry for a month first?", "pilot"),
        ("Can we get a sandbox connected to our test license?", "pilot"),
        ("Could you put together a demo for my two district managers next week?", "meeting"),
        ("Can you introduce me to your implementation person?", "intro"),
        ("Could you connect me with a club our size that switched?", "reference"),
        ("Please send over the case study about the operator in Tennessee.", "material"),
        ("What's the monthly cost for three drivers?", "pricing"),
    ],
)
def test_ask_kinds(said: str, kind: str) -> None:
    found = find_ask(said)
    assert found is not None and found.kind == kind


@pytest.mark.parametrize(
    "said",
    [
        "That would help, but it's not just price.",
        "Would we have to rip out all our workflow files?",
        "Our SOC 2 audit window opens in March, and I want it running before then.",
        "Yes, that makes sense.",
    ],
)
def test_statements_are_not_asks(said: str) -> None:
    assert find_ask(said) is None


def test_a_sellers_question_is_not_an_ask() -> None:
    insights = analyse(call("Sure.", seller_says="Can you share your current routing rules?"))
    assert insights.asks == ()


def test_the_next_best_action_answers_the_asks() -> None:
    insights = analyse(call(*(said for said, _, _ in ISSUE_ASKS)))
    sam = Contact(id="c-1", email="sam@acme.com")
    decision = NextBestAction().decide(sam, insights)
    assert decision.action == "send_followup"
    assert "migration template" in decision.rationale
    assert [e.quote for e in decision.evidence] == [said for said, _, _ in ISSUE_ASKS]


# ---------------------------------------------------------------------------- the LLM path


def test_llm_vendors_and_asks_are_grounded() -> None:
    transcript = call(
        "We're on LeanData right now.",
        "Can you share that migration template?",
        seller_says="Can I send you our Routing Studio deck?",
    )
    reply = {
        "competitors": [
            {"summary": "LeanData", "quotes": ["We're on LeanData right now."], "name": "LeanData",
             "role": "incumbent", "sentiment": "neutral"},
            {"summary": "ours", "quotes": ["Can I send you our Routing Studio deck?"],
             "name": "Routewise", "role": "mentioned"},
            {"summary": "invented", "quotes": ["We're on LeanData right now."], "name": "Clari",
             "role": "evaluating"},
        ],
        "asks": [
            {"summary": "template", "quotes": ["Can you share that migration template?"],
             "kind": "material", "item": "migration template"},
            {"summary": "seller's", "quotes": ["Can I send you our Routing Studio deck?"],
             "kind": "material"},
        ],
    }  # fmt: skip
    model = ScriptedChatModel(script=[reply])
    insights = analyse(transcript, brain=model)
    assert [(m.name, m.role) for m in insights.competitors] == [("LeanData", "incumbent")]
    assert [(a.kind, a.item) for a in insights.asks] == [("material", "migration template")]
    assert insights.dropped == {"name_not_in_quote": 1, "own_name": 1, "seller_side": 1}
    assert "asks" in str(model.calls[0][1].content) or model.calls  # the prompt asks for them


# ---------------------------------------------------------------------------- settings


def write_config(folder: Path, text: str) -> Path:
    (folder / "gtmflow.toml").write_text(text, encoding="utf-8")
    return folder


def test_the_workspace_lists_competitors_and_own_names(tmp_path: Path) -> None:
    root = write_config(
        tmp_path, '[analyst]\ncompetitors = ["Tulipwise"]\nown_names = ["Routing Studio"]\n'
    )
    analyst = TranscriptAnalyst(root=root, embeddings="off", own_names=[SELLER])
    assert analyst.competitors == ("Tulipwise",)
    assert analyst.own_names == ("Routing Studio", SELLER)
    insights = analyst.analyze(call("Tulipwise is fine.", "Routing Studio looks great."))
    assert roles(insights) == {"Tulipwise": "mentioned"}
    prompt = analyst.prompt(call("Hi."), None)
    assert "Tulipwise" in prompt.system and "Routing Studio" in prompt.system


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('[analyst]\ncompetitors = "Tulip"\n', r"competitors = 'Tulip' must be a list of names"),
        ('[analyst]\nown = ["Acme"]\n', r"unknown keys \['own'\]; known: competitors, own_names"),
        ("[analyst\n", "is not valid TOML"),
    ],
)
def test_bad_settings_say_what_to_fix(tmp_path: Path, table: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        TranscriptAnalyst(root=write_config(tmp_path, table), embeddings="off")


def test_gtmflow_analyze_reads_the_workspace_settings(tmp_path: Path) -> None:
    root = write_config(tmp_path, '[analyst]\nown_names = ["Routewise"]\n')
    path = tmp_path / "call.txt"
    path.write_text(
        "Ana (AE, Routewise): Thanks for the time.\n"
        "Rob (Plant Manager, Ferro): We're on LeanData right now. Could we try Routewise first? "
        "Can you share that migration template?\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(
        app, ["analyze", str(path), "-w", str(root), "--json", "--embeddings", "off"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert [(c["name"], c["role"]) for c in data["competitors"]] == [("LeanData", "incumbent")]
    assert [a["kind"] for a in data["asks"]] == ["pilot", "material"]
