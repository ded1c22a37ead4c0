"""Transcript files: text lines, markdown labels, JSON utterances, roles, timestamps, errors."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from gtmflow.errors import InputError
from gtmflow.tools.transcripts import (
    TranscriptFolder,
    parse_timestamp,
    parse_transcript,
    read_transcript,
)

from .conftest import SHARED

SYNTHETIC = SHARED / "data" / "external" / "transcripts" / "sales_synthetic_thirdparty"


def test_speaker_title_company_and_timestamps() -> None:
    parsed = parse_transcript(
        "[00:00:05] Dana Reyes (Account Executive, Northwind): Hi Sam.\n"
        "[00:01:02] Sam Patel (VP Operations, Acme): Hello.\n"
        "  and a continuation line\n"
        "\n"
        "Sam Patel [01:03:04]: Stamps may follow the name.\n",
        seller_company="Northwind",
    )
    turns = parsed.transcript.utterances
    assert [(u.speaker, u.role, u.timestamp) for u in turns] == [
        ("Dana Reyes", "seller", 5.0),
        ("Sam Patel", "prospect", 62.0),
        ("Sam Patel", "prospect", 3784.0),
    ]
    assert turns[1].text == "Hello. and a continuation line"
    assert parsed.speakers["Sam Patel"].title == "VP Operations"
    assert parsed.speakers["Sam Patel"].company == "Acme"


def test_plain_names_markdown_labels_and_role_words() -> None:
    parsed = parse_transcript("**REP**: Thanks for joining.\n**PROSPECT_ANA**: Our data is a mess.")
    assert [(u.speaker, u.role) for u in parsed.transcript.utterances] == [
        ("REP", "seller"),
        ("PROSPECT_ANA", "prospect"),
    ]


def test_roles_are_inferred_from_what_people_say() -> None:
    text = (
        "Alex: Thanks for taking the time. Let me show you our platform.\n"
        "Jo: We're struggling with reporting.\n"
        "Alex: We've helped teams like yours. Our customers typically see results fast.\n"
        "Jo: How much does it cost?\n"
    )
    roles = {u.speaker: u.role for u in parse_transcript(text).transcript.utterances}
    assert roles == {"Alex": "seller", "Jo": "prospect"}


def test_unclear_roles_stay_unknown() -> None:
    text = "Ann: Shall we start?\nBen: Yes, let's go through the agenda.\n"
    assert {u.role for u in parse_transcript(text).transcript.utterances} == {"unknown"}


def test_json_utterances_list_and_object(tmp_path: Path) -> None:
    rows = [
        {"speaker": "Ann", "text": "Hello", "timestamp": "00:01:15", "role": "seller"},
        {"speaker": "Ben", "content": "QMSum style", "timestamp": 80},
    ]
    listed = parse_transcript(json.dumps(rows)).transcript
    assert [(u.speaker, u.text, u.timestamp, u.role) for u in listed.utterances] == [
        ("Ann", "Hello", 75.0, "seller"),
        ("Ben", "QMSum style", 80.0, "prospect"),
    ]
    path = tmp_path / "call.json"
    path.write_text(
        json.dumps({"id": "call-9", "contact_id": "c-1", "title": "Demo", "utterances": rows}),
        encoding="utf-8",
    )
    loaded = read_transcript(path).transcript
    assert (loaded.id, loaded.contact_id, loaded.title) == ("call-9", "c-1", "Demo")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "is empty"),
        ("just some prose without any speaker", "no line like 'Speaker: text'"),
        ("[{broken json", "not valid JSON"),
        ('[{"speaker": "a"}]', "utterance 1 has no 'text'"),
        ('{"utterances": []}', "must be a list of utterances"),
    ],
)
def test_bad_transcripts_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_transcript(text)


def test_timestamps() -> None:
    assert parse_timestamp("01:15") == 75.0
    assert parse_timestamp("[01:00:00]") == 3600.0
    assert parse_timestamp(None) is None
    with pytest.raises(InputError, match="not seconds or hh:mm:ss"):
        parse_timestamp("noon")


def test_missing_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read transcript"):
        read_transcript(tmp_path / "nope.txt")


def test_folder_source_reads_by_id(tmp_path: Path) -> None:
    (tmp_path / "call-1.txt").write_text("Dana (AE, Northwind): Hi\nSam (CTO, Acme): Hello\n")
    folder = TranscriptFolder(tmp_path, seller_company="Northwind")
    found = folder.get("call-1")
    assert found is not None and found.id == "call-1"
    assert [u.role for u in found.utterances] == ["seller", "prospect"]
    assert folder.get("missing") is None and folder.get("../etc/passwd") is None


@pytest.mark.skipif(not SYNTHETIC.exists(), reason="../shared data is absent")
def test_third_party_sales_transcripts_parse_with_roles() -> None:
    path = SYNTHETIC / "hiring_hackathon_rilla" / "sales_transcripts_54.csv"
    parsed, with_roles = 0, 0
    for row in csv.DictReader(path.open(encoding="utf-8")):
        text = row["TranscriptText"].strip('"').replace("\\n", "\n")
        try:
            transcript = parse_transcript(text).transcript
        except InputError:
            continue  # a few rows are monologue summaries with no speakers
        parsed += 1
        with_roles += any(u.role != "unknown" for u in transcript.utterances)
    assert parsed >= 45 and with_roles / parsed >= 0.8
