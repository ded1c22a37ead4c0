"""Vendors by context: which products and companies a prospect named, and what each is to them.

A fixed list finds only the vendors someone thought of; this finder reads how names are talked
about. A name is a span of proper-noun tokens ("Sight Machine", "Club Prophet"), or a token
shaped like a brand anywhere (digits or dots inside: "Commerce7", "6sense", "monday.com";
inner capitals: "storEDGE", "foreUP"), or a lower-case word that is not an English word
(the MiniLM vocabulary is the dictionary) right after a vendor frame ("we run everything on
gorilladesk"). Frames give the role: `incumbent` ("we're on X", "we use X", "X is our CRM",
"our X renewal", "invoices go out through X", "permits run on T2"), `past` ("moved off X",
"we trialed X last year", "we used X for a pilot back in 2022"), `evaluating` ("we're
evaluating X", "compared you with X", "X quoted us", "a proposal from X", "corporate wants us on
X", "our bank, X, has a tool we've been offered"), `mentioned` ("X reached out", "a friend runs
X"). Names from the workspace list and the default prior (`DEFAULT_COMPETITORS`) count without a
frame, spelling tolerant; the list is a prior, not a gate.

Never reported: the seller's own names (configured `own_names`, "I'm Jo from Cellarmind",
"our Work Orders module", "your Routing Studio"), people on the call, office tools and channels
(Excel, email, Slack: the status quo, not a vendor), and names only the seller said. A tool the
prospect keeps and wants the offer to work with ("Salesforce is our CRM and we love it, so it
has to live inside it", "we're not giving up Dockwa"), or likes and the seller says the offer
connects to ("residents are happy with it" + "we take payments from X"), is their `stack`, not a
competitor. The frames themselves live in `_vendor_frames.py`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Literal

from gtmflow.agents._extractors import CompetitorMatcher
from gtmflow.agents._vendor_frames import AFTER, BEFORE, DETERMINER, Role

__all__ = ["SaidSentence", "VendorFinder", "VendorMention"]

Feeling = Literal["positive", "neutral", "negative"]

_CAP = r"(?:[A-Z0-9][\w&'\u2019.+-]*[\w+]|[a-z]+[A-Z][\w&.+-]*|[A-Z0-9])"
_SPAN = rf"{_CAP}(?:\s(?:(?:&|of|de|for)\s)?{_CAP}){{0,3}}"
_LOWER = r"[a-z][\w.+-]*[a-z0-9]"
# Frames whose objects are often people or common nouns: a lower-case or dictionary word after
# them is not taken for a brand.
_WEAK = frozenset(
    {
        "tested",
        "used",
        "had",
        "talking",
        "speaking",
        "meeting",
        "reviewing",
        "testing",
        "against",
        "versus",
        "than",
        "through",
        "is",
        "are",
        "have",
        "uses",
        "runs",
        "our",
        "saw",
        "heard",
    }
)

_BEFORE_RE = re.compile(
    "|".join(rf"(?P<b{i}>{p})\s+{DETERMINER}" for i, (p, _) in enumerate(BEFORE)), re.I
)
_AFTER_RE = re.compile("|".join(rf"(?P<a{i}>{p[1:]})" for i, (p, _) in enumerate(AFTER)), re.I)
# After a name a weak frame points at: how long or when it was used ("for a pilot", "back in").
_USAGE_TAIL = re.compile(
    r"\s+(?:for (?:a|an|the|about|almost|over|two|three|\d+|\w+ (?:years?|months?|seasons?))\b|"
    r"back in\b|until\b|years? ago\b|\w+ (?:years?|months?) ago\b|last (?:year|season|spring|"
    r"summer|fall|winter)\b)",
    re.I,
)
_OFFERED = re.compile(
    r"\b(?:(?:we've|we have|we were|we've been|we have been|been) offered|offered us|"
    r"(?:keeps?|kept|has been|have been|are|is) (?:pitching|pushing|upselling)|"
    r"trying to (?:sell|get) us)\b",
    re.I,
)
_OPENING = re.compile(rf"^({_SPAN}),? (?:for|at) (?:the|our|all|every|both)\b")
_TOOL_QUESTION = re.compile(
    r"\b(?:use|using|run|running|on|tool|tools|system|software|platform|vendor|track|"
    r"manage|handle|today|right now|currently)\b",
    re.I,
)
_ANSWER = re.compile(
    rf"^(?i:(?:yeah|yes|so|well|honestly|mostly|oh|um|uh|we use|it's|that's),?\s+)*({_SPAN})"
    r"(?=\s*(?:[,.!;]|$|\s(?i:for|and|mostly|right now|today|but|which)\b))",
)
_WORD = re.compile(r"[A-Za-z0-9][\w.+'-]*[A-Za-z0-9]|[A-Za-z0-9]")
_NAME_AT = re.compile(rf"{_SPAN}|{_LOWER}")
_ANY_SPAN = re.compile(rf"(?<![\w'\u2019]){_SPAN}")
_THIRD_PARTY = re.compile(
    r"\b(?:sister|neighbou?r\w*|friend|peer|another|other|competitors?|he|she|his|her|they|"
    r"their|a (?:lot|bunch|couple) of|some)\b",
    re.I,
)
_KEEP = re.compile(
    r"\b(?:(?:not|never|won't|aren't|isn't|not going to|don't want to|wouldn't) "
    r"(?:\w+ )?(?:chang\w+|replac\w+|moving off|giving up|give up|touch\w*|rip\w* out|"
    r"switch\w*|let (?:it|that|them) go|go anywhere|going anywhere)|(?:keeping|keep) "
    r"(?:it|them|that)\b|i'?m keeping|(?:has|have|needs?) to (?:sync|work|integrate|live|sit|"
    r"connect|talk|play|plug) (?:\w+ )?(?:with|inside|in|on|into|to)|that'?s not changing|"
    r"(?:baked|built) into|stays?\b|staying\b|integrat\w*|plugs? into|works? with|sync\w*|"
    r"connects? (?:to|with|into)|talks? to|sits? (?:alongside|on top of)|compatible|"
    r"connector|pulls? (?:\w+ )?from|feeds? (?:\w+ )?into|exports? (?:\w+ )?to|imports? "
    r"(?:\w+ )?from|reads? (?:\w+ )?from|budg(?:e|es|ed|ing)\b|move away)",
    re.I,
)
_TAKES_FROM = re.compile(
    r"\b(?:takes?|accepts?|receives?|gets?|picks? up) (?:\w+ ){0,2}?(?:from|out of)\b", re.I
)
_POSITIVE = re.compile(
    r"\b(?:love|loves|loved|great|happy with|like it|liked|likes|swear by|works well|really "
    r"good|fantastic|solid|happy)\b",
    re.I,
)
_NEGATIVE = re.compile(
    r"\b(?:hate|hates|can't stand|cannot stand|clunky|mess|crash\w*|freez\w*|painful|awful|"
    r"terrible|ignore|ignored|slow|outdated|ancient|broken|maze|nightmare|frustrat\w+|"
    r"understands|retiring|annoy\w*|expensive|steep)\b",
    re.I,
)
_NOT_VENDOR_WORDS = """
    i we our you your they it this that the a an and but so or if yes yeah no okay ok sure
    right well honestly also then now today monday tuesday wednesday thursday friday saturday
    sunday january february march april may june july august september october november
    december q1 q2 q3 q4 h1 h2 ceo cfo cto coo cio ciso cmo cro vp svp evp it hr ops qa pm
    crm erp wms tms pos sms api sso soc rfp rfq sow msa nda ttb faa fda epa irs gdpr hipaa
    smb mid-market enterprise spreadsheet spreadsheets sheet
    email emails e-mail text paper pdf csv phone calendar
    notepad whiteboards whiteboard mr mrs ms dr st inc llc ltd corporate finance legal
    procurement board sales marketing support operations i'd i'll i've i'm my me he she his her
    it's its these those there here what when where who why how which every each all any some
    is are was were do does did can could would should will thanks thank great good just maybe
    actually last next first type europe eu us usa uk canada asia america emea apac saas paas
    iaas finops devops revops oof ugh hmm ha huh wow yep nope yikes oops meh vice president
    chief head director manager officer"""
_NOT_VENDORS = frozenset(_NOT_VENDOR_WORDS.split())
# Office tools and channels: the status quo, not a vendor competing for the deal.
_GENERIC = frozenset(
    {"excel", "microsoft excel", "google sheets", "google forms", "google form", "google docs",
     "google drive", "gmail", "outlook", "slack", "microsoft teams", "teams", "zoom", "whatsapp",
     "dropbox", "sharepoint", "word", "google", "microsoft", "google calendar", "notion",
     "linkedin", "facebook", "youtube", "instagram"}
)  # fmt: skip
_CODES = re.compile(
    r"^(?:c[a-z]{1,2}o|type (?:i|ii|1|2)|\d+pl|[a-z]-\d+s?|q[1-4]|h[12]|fy\d+|"
    r"\d+(?:st|nd|rd|th|s|k|m|x|am|pm|%)?|k-?12|w-?2|1099|401k|b2[bc]|24/7|\d+[.,:/]\d+.*|v\d+(?:\.\d+)*|\d+-\w+)$",
    re.I,
)


_BRAND = re.compile(
    r"^(?:[A-Za-z]{3,}\d+|\d+[A-Za-z]{3,}|[A-Za-z][\w-]*\.(?:com|io|ai|co|app|net|ly)|"
    r"[a-z]+[A-Z][A-Za-z]*|[A-Z][a-z]+[A-Z][A-Za-z]*)$"
)


@dataclass(frozen=True)
class SaidSentence:
    """One sentence as the finder sees it: its text and who said it."""

    text: str
    role: str
    speaker: str


@dataclass
class VendorMention:
    """A vendor the prospect named, its role and sentiment, and the sentences that name it."""

    name: str
    role: Role
    sentiment: Feeling | None
    sentences: list[int] = field(default_factory=list)
    kept: bool = False


@dataclass
class _Hit:
    name: str
    role: Role | None
    sentence: int


class VendorFinder:
    """Finds vendor mentions in a call's sentences by frames, shapes and known names.

    Args:
        known: The workspace's competitor names (spelling tolerant).
        prior: Default vendor names, found without a frame like `known`.
        own_names: The seller's company and product names, never reported.
    """

    def __init__(
        self, *, known: Sequence[str], prior: Sequence[str] = (), own_names: Sequence[str] = ()
    ) -> None:
        self.own = {_key(n) for n in own_names if _key(n)}
        self.matcher = CompetitorMatcher([*known, *prior], exclude=own_names)

    def find(self, sentences: Sequence[SaidSentence]) -> list[VendorMention]:
        """Mentions in order of first mention; `kept` ones are the prospect's stack."""
        own = self.own | _own_names(sentences)
        people = {_key(w) for s in sentences for w in s.speaker.split()} - {""}
        roles_known = any(s.role != "unknown" for s in sentences)
        hits: list[_Hit] = []
        for index, said in enumerate(sentences):
            if roles_known and said.role == "seller":
                continue
            hits.extend(self._hits(index, said.text))
            if index and _asked_about_tools(sentences[index - 1], said):
                hits.extend(_answer(index, said.text))
        hits = [h for h in hits if _key(h.name) not in people and not _is_own(h.name, own)]
        mentions = _merge(hits)
        _propagate(mentions, sentences, roles_known)
        for mention in mentions.values():
            mention.sentiment, mention.kept = _feeling(mention, sentences)
            if mention.sentiment == "positive" and _offer_works_with(mention.name, sentences):
                mention.kept = True  # "residents are happy with it" + "we take payments from X"
        return list(mentions.values())

    def _hits(self, index: int, text: str) -> list[_Hit]:
        found = [_Hit(name, None, index) for name, _said in self.matcher.find(text)]
        for start, end, role in _framed(text):
            name = _clean(text[start:end])
            if name and _vendor_like(name, framed=True):
                found.append(_Hit(name, role, index))
        for match in _ANY_SPAN.finditer(text):
            name = _clean(match.group(0))
            if name and _brand_shaped(name) and _vendor_like(name, framed=False):
                found.append(_Hit(name, None, index))
        return found


def _has_candidate(text: str) -> bool:
    """Whether a token after the first could be a name: a capital, a digit or a rare word."""
    for token in _WORD.findall(text)[1:]:
        low = token.lower().split("'")[0]
        if low in _NOT_VENDORS or (len(low) < 3 and not re.fullmatch(r"[A-Z]\d", token)):
            continue
        if not token.islower() or any(c.isdigit() for c in token) or low not in _common():
            return True
    return False


def _framed(text: str) -> list[tuple[int, int, Role]]:
    """(start, end, role) of names a frame points at, before or after them."""
    out: list[tuple[int, int, Role]] = []
    frames = _BEFORE_RE.finditer(text) if _has_candidate(text) else ()  # most name nothing
    for frame in frames:
        role = BEFORE[int(str(frame.lastgroup)[1:])][1]
        span = _NAME_AT.match(text, frame.end())
        if span is None:
            continue
        if _third_party(text[: frame.start()], role):
            role = "mentioned"
        first = span.group(0)[0]
        lower = first.islower() and span.group(0).split()[0].islower()  # not "iCIMS", "eBay"
        end = _lower_end(text, span.start()) if lower else span.end()
        word = text[span.start() : end]
        common = " " not in word and word.lower() in _common()
        used_for = _USAGE_TAIL.match(text, end)  # "we used Passport for a pilot back in 2022"
        if _weak(frame.group(0)) and (lower or (common and not used_for)):
            continue
        if role == "incumbent" and _OFFERED.search(text, end):
            role = "evaluating"  # "our payroll company, X, has a tool we've been offered"
        out.extend(_listed(text, span.start(), end, role))
    opening = _OPENING.match(text)
    if opening:  # "Commerce7 for the club and the tasting room, ..."
        out.append((0, opening.end(1), "incumbent"))
    for match in _ANY_SPAN.finditer(text):
        after = _AFTER_RE.match(text, match.end())
        if after is not None:
            role = AFTER[int(str(after.lastgroup)[1:])][1]
            out.append((match.start(), match.end(), _demoted(text[: match.start()], role)))
    return out


def _weak(frame: str) -> bool:
    """Whether a frame's object is often a person or a common noun ("we had", "is through").

    A flow verb before "through" or "via" makes it strong: "contracts go out through honeybook".
    """
    words = frame.lower().split()
    if words[0] in _WEAK:
        return True
    return any(w in _WEAK and w not in ("through", "via") for w in words[-2:])


def _asked_about_tools(question: SaidSentence, answer: SaidSentence) -> bool:
    """Whether the sentence before is the other side asking what they use ("... today?")."""
    return (
        question.speaker != answer.speaker
        and question.text.rstrip().endswith("?")
        and bool(_TOOL_QUESTION.search(question.text))
    )


def _answer(index: int, text: str) -> list[_Hit]:
    """A name that answers a question about tools: "Mindbody, and honestly I hate it."."""
    match = _ANSWER.match(text)
    if match is None:
        return []
    name = _clean(match.group(1))
    if not name or (" " not in name and name.lower() in _common()):
        return []  # "Two shops, eleven bays."
    return [_Hit(name, "incumbent", index)] if _vendor_like(name, framed=True) else []


def _listed(text: str, start: int, end: int, role: Role) -> list[tuple[int, int, Role]]:
    """The framed name and any names listed after it ("X and Y", "X, Y or Z")."""
    out = [(start, end, role)]
    rest = re.compile(rf"(?:,\s*|\s+(?:and|or|&)\s+|,\s*(?:and|or)\s+)({_SPAN})")
    while (more := rest.match(text, end)) is not None:
        out.append((more.start(1), more.end(1), role))
        end = more.end(1)
    return out


def _lower_end(text: str, start: int) -> int:
    match = re.compile(_LOWER).match(text, start)
    return match.end() if match else start


def _third_party(before: str, role: Role) -> bool:
    """Whether the frame's subject is someone else ("our sister church moved to X")."""
    clause = re.split(r"[,;]|\b(?:and|but|so)\b", before)[-1]
    return (
        role != "mentioned"
        and bool(_THIRD_PARTY.search(clause))
        and not re.search(r"\b(?:we|i|us)\b", clause, re.I)
    )


def _demoted(before: str, role: Role) -> Role:
    clause = re.split(r"[,;]|\b(?:and|but|so)\b", before)[-1]
    return "mentioned" if _THIRD_PARTY.search(clause) else role


def _clean(span: str) -> str:
    span = re.sub(r"(?:'s|\u2019s)$", "", span.strip(" .,;:!?\"'()"))
    words = span.split()
    while words and words[-1].lower() in _NOT_VENDORS:
        words.pop()
    while words and words[0].lower() in _NOT_VENDORS:
        words.pop(0)
    return " ".join(words).strip(" .,")


def _vendor_like(name: str, *, framed: bool) -> bool:
    low = name.lower()
    first = low.split()[0]
    if low in _GENERIC or _CODES.match(low) or first in _NOT_VENDORS or len(name) < 2:
        return False
    if name[0].isupper() or name[0].isdigit():
        short = len(name.split()) == 1 and name.isupper() and len(name) <= 2
        return not short or (framed and re.fullmatch(r"[A-Z]\d", name) is not None)  # "T2"
    if "-" in name and not _brand_shaped(name):
        return False  # "two-week", "check-in"
    plain = not re.search(r"(?:ers?|ing|ed|ly|tion|ment|ness|ity|ies|s)$", low)
    return framed and (_brand_shaped(name) or (low not in _common() and plain))


def _brand_shaped(name: str) -> bool:
    """A brand's shape: "Commerce7", "15Five", "monday.com", "storEDGE", "foreUP"."""
    return any(_BRAND.match(w) and not _CODES.match(w) for w in name.split())


def _merge(hits: Iterable[_Hit]) -> dict[str, VendorMention]:
    priority = {"past": 0, "incumbent": 1, "evaluating": 2, "mentioned": 3}
    mentions: dict[str, VendorMention] = {}
    names: dict[str, str] = {}
    for hit in hits:
        key = _merge_key(hit.name, names)
        mention = mentions.get(key)
        if mention is None:
            mention = mentions[key] = VendorMention(hit.name, hit.role or "mentioned", None)
        if hit.role and priority[hit.role] < priority[mention.role]:
            mention.role = hit.role
        if hit.sentence not in mention.sentences:
            mention.sentences.append(hit.sentence)
    return mentions


def _merge_key(name: str, names: dict[str, str]) -> str:
    """One key for "Arc XP" and "Arc", "Opera" and "Oracle Opera"."""
    key = _key(name)
    for known, canonical in names.items():
        if key == known or _word_within(name, canonical) or _word_within(canonical, name):
            return _key(canonical)
    names[key] = name
    return key


def _word_within(short: str, long: str) -> bool:
    return len(short) >= 3 and f" {short.lower()} " in f" {long.lower()} "


def _propagate(
    mentions: dict[str, VendorMention], sentences: Sequence[SaidSentence], roles_known: bool
) -> None:
    """Later sentences that name a found vendor are its evidence too."""
    for mention in mentions.values():
        pattern = re.compile(rf"(?<![\w]){re.escape(mention.name)}(?![\w])", re.I)
        for index, said in enumerate(sentences):
            prospect = not roles_known or said.role != "seller"
            if prospect and index not in mention.sentences and pattern.search(said.text):
                mention.sentences.append(index)
        mention.sentences.sort()


def _feeling(
    mention: VendorMention, sentences: Sequence[SaidSentence]
) -> tuple[Feeling | None, bool]:
    texts = [sentences[i].text for i in mention.sentences]
    positive = sum(bool(_POSITIVE.search(t)) for t in texts)
    negative = sum(bool(_NEGATIVE.search(t)) for t in texts)
    feeling: Feeling = (
        "positive" if positive > negative else "negative" if negative > positive else "neutral"
    )
    kept = mention.role in ("incumbent", "mentioned") and any(_KEEP.search(t) for t in texts)
    kept = kept and feeling != "negative"
    return (feeling if mention.role == "incumbent" else None), kept


def _offer_works_with(name: str, sentences: Sequence[SaidSentence]) -> bool:
    """Whether the seller says the offer connects to `name` ("X takes payments from Y")."""
    pattern = re.compile(rf"(?<![\w]){re.escape(name)}(?![\w])", re.I)
    return any(
        s.role == "seller"
        and pattern.search(s.text)
        and (_KEEP.search(s.text) or _TAKES_FROM.search(s.text))
        for s in sentences
    )


def _own_names(sentences: Sequence[SaidSentence]) -> set[str]:
    """The seller's names as the call shows them: "I'm Jo from X", "our X", "your X"."""
    own: set[str] = set()
    seller = re.compile(rf"\b(?:i'?m \w+ (?:from|with|at)|here at|(?:our|my))\s+({_SPAN})", re.I)
    yours = re.compile(rf"\byour\s+({_SPAN})")
    for said in sentences:
        pattern = seller if said.role == "seller" else yours
        for match in pattern.finditer(said.text):
            own.add(_key(_clean(match.group(1))))
    return own - {""}


def _is_own(name: str, own: set[str]) -> bool:
    key = _key(name)
    return any(o and (o in key or key in o) for o in own)


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


@cache
def _common() -> frozenset[str]:
    """Lower-case English words: the MiniLM WordPiece vocabulary's whole words."""
    vocabulary = resources.files("gtmflow.tools.context") / "data" / "minilm-vocab.txt"
    words = vocabulary.read_text(encoding="utf-8").split()
    return frozenset(w for w in words if w.isalpha() and len(w) > 1)
