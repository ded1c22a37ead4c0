"""Read call transcripts from files: plain text lines or JSON utterances, with speaker roles.

Plain text, one turn per line (continuation lines join the turn above; blank lines are ignored):

```text
[00:00:05] Dana Reyes (Account Executive, Northwind): Thanks for making the time.
[00:00:09] Sam Patel (VP Operations, Acme): Happy to. Our biggest problem is manual reporting.
Sam: It takes two people a week every month.
**REP**: Markdown transcripts with bold labels work too.
```

JSON: a list of `{"speaker", "text", "timestamp"?, "role"?}` (QMSum's `content` is accepted for
`text`), or an object with `utterances` plus optional `id`, `contact_id`, `occurred_at`, `title`.
Timestamps are seconds or `hh:mm:ss` / `mm:ss`.

Roles decide whose words count as pains and objections. A speaker is the `seller` when their
company matches `seller_company`, their name is in `seller_speakers`, or their label says so
(`REP`, `Sales Rep`, `AE`, `SDR`, `Host`); the `prospect` when their label says so (`PROSPECT`,
`Customer`, `Client`, `Buyer`) or their company matches `prospect_company`. Once someone is a known
seller, every other speaker with a company that is not the seller's is a prospect. Without any of
these, `infer_roles` uses what people say ("let me show you", "our platform" vs "we're
struggling", "our budget") and leaves roles `unknown` when the evidence is not clear.

Transcripts are untrusted text. A line labelled `SYSTEM:`, `Assistant:`, `AI:` (or `ChatGPT`,
`Bot`, `Developer`, ... also spelled with look-alike letters or zero-width characters) is not a
person on the call: it stays a turn, verbatim, with role `unknown`, takes no part in role
resolution, and is listed in `ParsedTranscript.suspicious_speakers`; the analyst flags it.
`fold_text` is the form detectors read: NFKC, format characters (zero-width) removed and
look-alike Cyrillic and Greek letters folded to Latin.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import ValidationError

from gtmflow.errors import InputError
from gtmflow.models import Transcript, Utterance

__all__ = [
    "ParsedTranscript",
    "SpeakerInfo",
    "TranscriptFolder",
    "TranscriptSource",
    "fold_text",
    "infer_roles",
    "is_suspicious_speaker",
    "parse_timestamp",
    "parse_transcript",
    "read_transcript",
]

Role = Literal["prospect", "seller", "unknown"]

_STAMP = r"\[?(?P<{name}>\d{{1,2}}:\d{{2}}(?::\d{{2}})?(?:\.\d+)?)\]?"
_LINE = re.compile(
    r"^\s*(?:" + _STAMP.format(name="ts") + r"\s+)?"
    r"(?:\*\*)?(?P<speaker>[A-Za-z][\w.'\u2019\- ]{0,58}?)(?:\*\*)?"
    r"(?:\s*\((?P<meta>[^()]{1,80})\))?"
    r"(?:\s+" + _STAMP.format(name="ts2") + r")?"
    r"\s*(?:\*\*)?:(?:\*\*)?\s+(?P<text>\S.*)$"
)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
"""Control characters (NUL, bell, escape...): export debris, never words; dropped before parsing."""
_SELLER_LABEL = re.compile(
    r"^(rep|sales ?rep|seller|ae|sdr|bdr|account executive|sales|host|agent|salesperson)(?![a-z])",
    re.I,
)
_PROSPECT_LABEL = re.compile(r"^(prospect|customer|client|buyer|lead|attendee)(?![a-z])", re.I)
_SELLER_TALK = re.compile(
    r"\b(let me show you|i'?m \w+ from|our (platform|products?|solutions?|tool|system|services?|"
    r"pricing|customers|clients|technology|software|offering|team can)|we (offer|provide|help|"
    r"support|integrate|specialize|build|install|handle)|i'?d recommend|thank you for (taking|"
    r"making|allowing|inviting|having|meeting)|thanks for (taking|making) the time|happy to "
    r"(walk|show)|we'?ve helped|our (clients|customers) (see|typically))\b",
    re.I,
)
_PROSPECT_TALK = re.compile(
    r"\b(we'?re (struggling|looking|evaluating|currently)|our (budget|biggest|current|team|"
    r"process|cfo|ceo|cto)|we (currently )?use|my (boss|manager|team)|we need|for us|"
    r"we can'?t|how much|what does it cost|what'?s the pricing)\b",
    re.I,
)


_SUSPICIOUS_SPEAKER = re.compile(
    r"^(?:system|sys|assistant|ai|a\.i\.|ai assistant|bot|chat ?gpt|gpt[\w.-]*|claude|gemini|"
    r"copilot|llm|model|developer|dev|admin|administrator|root|instructions?|prompt|"
    r"system (?:message|prompt|note)|note to (?:the )?ai)$",
    re.I,
)
# Look-alike letters (Unicode "confusables") that NFKC leaves alone: Cyrillic and Greek.
_CONFUSABLES = str.maketrans(
    "\u0430\u0432\u0435\u0455\u0456\u0458\u043a\u043c\u043d\u043e\u0440\u0441\u0442\u0443"
    "\u0445\u0501\u051b\u051d\u0410\u0412\u0415\u0405\u0406\u0408\u041a\u041c\u041d\u041e"
    "\u0420\u0421\u0422\u0423\u0425\u03b1\u03b5\u03b9\u03ba\u03bd\u03bf\u03c1\u03c4\u03c5"
    "\u03c7\u0391\u0392\u0395\u0396\u0397\u0399\u039a\u039c\u039d\u039f\u03a1\u03a4\u03a5"
    "\u03a7\u0131",
    "aBesijkmHopcTyxdqwABESIJKMHOPCTYXaeikvopTuxABEZHIKMNOPTYXi",
)
_SPACED_LETTERS = re.compile(r"\b(?:[A-Za-z][ .\-_*]){3,}[A-Za-z]\b")


def fold_text(text: str) -> str:
    """Text as a detector should read it: look-alikes, zero-width and spaced-out letters undone.

    NFKC (full-width and styled letters become plain), format characters such as zero-width
    spaces and joiners removed, Cyrillic and Greek look-alike letters folded to Latin, and words
    spelled out letter by letter ("i g n o r e") joined. Never shown to people: quotes stay
    verbatim; this is only what patterns are matched against.
    """
    plain = text
    if not text.isascii():  # plain ASCII has no look-alikes or format characters to undo
        plain = unicodedata.normalize("NFKC", text)
        plain = "".join(c for c in plain if unicodedata.category(c) != "Cf")
        plain = plain.translate(_CONFUSABLES)
    return _SPACED_LETTERS.sub(lambda m: re.sub(r"[ .\-_*]", "", m.group(0)), plain)


def is_suspicious_speaker(name: str) -> bool:
    """Whether a speaker label names a machine or a prompt role (`SYSTEM`, `Assistant`, `AI`)."""
    label = re.sub(r"[\s*_\[\]<>|#]+", " ", fold_text(name)).strip()
    return bool(_SUSPICIOUS_SPEAKER.match(label))


class TranscriptSource(Protocol):
    """Where graphs find the transcript a `call_completed` event points at."""

    def get(self, transcript_id: str) -> Transcript | None:
        """The transcript with this id, or None when there is none."""
        ...


class TranscriptFolder:
    """Transcripts stored as files named `<transcript_id>.txt|.md|.json` in one folder.

    Args:
        folder: Where the files are.
        seller_company: Your company as it appears in speaker labels, to tell sellers apart.
        seller_speakers: Names of your people who speak in calls.
    """

    SUFFIXES = (".txt", ".md", ".json")

    def __init__(
        self,
        folder: str | Path,
        *,
        seller_company: str | None = None,
        seller_speakers: Iterable[str] = (),
    ) -> None:
        self.folder = Path(folder)
        self.seller_company = seller_company
        self.seller_speakers = tuple(seller_speakers)

    def get(self, transcript_id: str) -> Transcript | None:
        """Read `<transcript_id>.<suffix>`; None when no such file exists."""
        if not transcript_id or "/" in transcript_id or "\\" in transcript_id:
            return None
        for suffix in self.SUFFIXES:
            path = self.folder / f"{transcript_id}{suffix}"
            if path.is_file():
                return read_transcript(
                    path,
                    transcript_id=transcript_id,
                    seller_company=self.seller_company,
                    seller_speakers=self.seller_speakers,
                ).transcript
        return None


@dataclass(frozen=True)
class SpeakerInfo:
    """What a transcript line says about a speaker besides their name."""

    name: str
    title: str | None = None
    company: str | None = None
    role: Role = "unknown"


@dataclass(frozen=True)
class ParsedTranscript:
    """A transcript, the title/company of each speaker, and labels that are not people.

    Attributes:
        transcript: The turns, verbatim.
        speakers: Title, company and role of each speaker where the file gave them.
        suspicious_speakers: Labels such as `SYSTEM` or `Assistant` that address a machine;
            their turns keep role `unknown` and the analyst flags them.
    """

    transcript: Transcript
    speakers: Mapping[str, SpeakerInfo] = field(default_factory=dict)
    suspicious_speakers: tuple[str, ...] = ()


def read_transcript(
    path: str | Path,
    *,
    transcript_id: str | None = None,
    contact_id: str | None = None,
    occurred_at: datetime | None = None,
    seller_company: str | None = None,
    seller_speakers: Iterable[str] = (),
    prospect_company: str | None = None,
) -> ParsedTranscript:
    """Read a transcript file (`.json` or any text) and resolve speaker roles.

    Raises:
        InputError: The file is missing, empty, or no line looks like `Speaker: text`.
    """
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise InputError(f"cannot read transcript '{source}': {exc.strerror}") from None
    return parse_transcript(
        text,
        transcript_id=transcript_id,
        default_id=source.stem,
        contact_id=contact_id,
        occurred_at=occurred_at,
        seller_company=seller_company,
        seller_speakers=seller_speakers,
        prospect_company=prospect_company,
        source=str(source),
    )


def parse_transcript(
    text: str,
    *,
    transcript_id: str | None = None,
    contact_id: str | None = None,
    occurred_at: datetime | None = None,
    title: str | None = None,
    seller_company: str | None = None,
    seller_speakers: Iterable[str] = (),
    prospect_company: str | None = None,
    source: str = "<text>",
    default_id: str | None = None,
) -> ParsedTranscript:
    """Parse transcript text (plain lines or JSON) into a `Transcript` with speaker roles.

    The id is `transcript_id`, else the JSON's `id`, else `default_id` (a file's name), else a
    digest of the text.
    """
    stripped = _CONTROL.sub("", text).strip()
    if not stripped:
        raise InputError(f"transcript '{source}' is empty")
    meta: dict[str, Any] = {}
    if stripped[0] in "[{" and not _LINE.match(stripped.splitlines()[0]):
        turns, meta = _json_turns(stripped, source)
    else:
        turns = _text_turns(stripped, source)
    speakers = _resolve_roles(turns, seller_company, set(seller_speakers), prospect_company)
    utterances = [
        Utterance(
            speaker=t.name,
            text=t.text,
            timestamp=t.timestamp,
            role="unknown" if is_suspicious_speaker(t.name) else t.role or speakers[t.name].role,
        )
        for t in turns
    ]
    transcript = _transcript(
        utterances,
        id=transcript_id or meta.get("id") or default_id or _digest(stripped),
        contact_id=contact_id or meta.get("contact_id"),
        occurred_at=occurred_at or meta.get("occurred_at"),
        title=title or meta.get("title"),
        source=source,
    )
    suspicious = tuple(n for n in speakers if is_suspicious_speaker(n))
    return ParsedTranscript(infer_roles(transcript), speakers, suspicious)


def infer_roles(transcript: Transcript) -> Transcript:
    """Fill `unknown` roles from what people say, when one speaker clearly sells.

    Only applies when no role is known yet and there are at least two speakers: the speaker
    with the most seller phrases (at least 2, and twice the runner-up's) becomes the seller
    and everyone else a prospect. Otherwise the transcript is returned unchanged.
    """
    if any(u.role != "unknown" for u in transcript.utterances):
        return transcript
    names = {u.speaker for u in transcript.utterances if not is_suspicious_speaker(u.speaker)}
    if len(names) < 2:
        return transcript
    score: Counter[str] = Counter()
    for u in transcript.utterances:
        if u.speaker in names:
            score[u.speaker] += 2 * len(_SELLER_TALK.findall(u.text))
            score[u.speaker] -= len(_PROSPECT_TALK.findall(u.text))
    ranked = score.most_common()
    top, best = ranked[0]
    runner = ranked[1][1] if len(ranked) > 1 else 0
    if best < 2 or best < 2 * max(runner, 1):
        return transcript
    utterances = tuple(
        u
        if u.speaker not in names
        else u.model_copy(update={"role": "seller" if u.speaker == top else "prospect"})
        for u in transcript.utterances
    )
    return transcript.model_copy(update={"utterances": utterances})


def parse_timestamp(value: Any) -> float | None:
    """Seconds from `12.5`, `"75"`, `"01:15"` or `"00:01:15"`; None for empty values."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float):
        return float(value)
    parts = str(value).strip().strip("[]").split(":")
    try:
        numbers = [float(p) for p in parts]
    except ValueError:
        raise InputError(f"timestamp '{value}' is not seconds or hh:mm:ss") from None
    seconds = 0.0
    for number in numbers:
        seconds = seconds * 60 + number
    return seconds


@dataclass
class _Turn:
    name: str
    text: str
    timestamp: float | None = None
    title: str | None = None
    company: str | None = None
    role: Role | None = None


def _text_turns(text: str, source: str) -> list[_Turn]:
    turns: list[_Turn] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line in {"---", "***"} or line.startswith("#"):
            continue
        match = _LINE.match(line)
        if match is None:
            if turns:
                turns[-1].text += " " + line
            continue
        title, company = _meta(match.group("meta"))
        turns.append(
            _Turn(
                name=match.group("speaker").strip(),
                text=match.group("text").strip(),
                timestamp=parse_timestamp(match.group("ts") or match.group("ts2")),
                title=title,
                company=company,
            )
        )
    if not turns:
        raise InputError(
            f"transcript '{source}' has no line like 'Speaker: text' or "
            "'[00:01:02] Speaker (Title, Company): text'; check the format or pass JSON utterances"
        )
    return turns


def _json_turns(text: str, source: str) -> tuple[list[_Turn], dict[str, Any]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"transcript '{source}' is not valid JSON: {exc}") from None
    meta = data if isinstance(data, dict) else {}
    rows = meta.get("utterances", meta.get("meeting_transcripts")) if meta else data
    if not isinstance(rows, list) or not rows:
        raise InputError(
            f"transcript '{source}': JSON must be a list of utterances or an object with "
            '\'utterances\': [{"speaker", "text", "timestamp"?}, ...]'
        )
    turns = []
    for number, row in enumerate(rows, 1):
        if not isinstance(row, dict) or not str(row.get("text", row.get("content", ""))).strip():
            raise InputError(f"transcript '{source}': utterance {number} has no 'text'")
        role = row.get("role")
        turns.append(
            _Turn(
                name=str(row.get("speaker") or "Unknown").strip(),
                text=str(row.get("text", row.get("content", ""))).strip(),
                timestamp=parse_timestamp(row.get("timestamp")),
                title=row.get("title"),
                company=row.get("company"),
                role=role if role in ("prospect", "seller", "unknown") else None,
            )
        )
    return turns, {k: v for k, v in meta.items() if k != "utterances"}


def _meta(raw: str | None) -> tuple[str | None, str | None]:
    if not raw:
        return None, None
    title, comma, company = raw.rpartition(",")
    if comma:
        return title.strip() or None, company.strip() or None
    return raw.strip(), None


def _resolve_roles(
    turns: list[_Turn],
    seller_company: str | None,
    seller_speakers: set[str],
    prospect_company: str | None,
) -> dict[str, SpeakerInfo]:
    first: dict[str, _Turn] = {}
    for turn in turns:
        known = first.setdefault(turn.name, turn)
        known.title = known.title or turn.title
        known.company = known.company or turn.company
    roles = {
        n: _role(t, seller_company, seller_speakers, prospect_company) for n, t in first.items()
    }
    machines = {n for n in first if is_suspicious_speaker(n)}
    roles.update(dict.fromkeys(machines, "unknown"))
    seller_companies = {_key(first[n].company) for n, r in roles.items() if r == "seller"}
    if "seller" in roles.values():
        for name, role in roles.items():
            company = _key(first[name].company)
            if (
                role == "unknown"
                and name not in machines
                and (not company or company not in seller_companies)
            ):
                roles[name] = "prospect"
    unknown = [n for n, role in roles.items() if role == "unknown" and n not in machines]
    if "prospect" in roles.values() and "seller" not in roles.values() and len(unknown) == 1:
        roles[unknown[0]] = "seller"  # the one unlabelled speaker facing known prospects
    return {
        name: SpeakerInfo(name, first[name].title, first[name].company, roles[name])
        for name in first
    }


def _role(
    turn: _Turn, seller_company: str | None, seller_speakers: set[str], prospect_company: str | None
) -> Role:
    if turn.role:
        return turn.role
    company = _key(turn.company)
    if turn.name in seller_speakers or (seller_company and company == _key(seller_company)):
        return "seller"
    if prospect_company and company == _key(prospect_company):
        return "prospect"
    if _SELLER_LABEL.match(turn.name) or (turn.title and _SELLER_LABEL.match(turn.title)):
        return "seller"
    if _PROSPECT_LABEL.match(turn.name):
        return "prospect"
    return "unknown"


def _key(company: str | None) -> str:
    return re.sub(r"[^a-z0-9]", "", (company or "").lower())


def _digest(text: str) -> str:
    return "transcript-" + hashlib.sha256(text.encode()).hexdigest()[:12]


def _transcript(utterances: list[Utterance], *, source: str, **fields: Any) -> Transcript:
    try:
        return Transcript(utterances=tuple(utterances), **fields)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise InputError(f"transcript '{source}' is not valid: {problems}") from None
