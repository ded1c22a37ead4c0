"""The checks every follow-up draft passes before it can be sent, whichever brain wrote it.

A sentence is removed (and the claims ledger says why) when it carries an email address, a link
that is not one of the library pieces the writer was given, or an instruction from untrusted
text; when it quotes more than one span, a span longer than fifteen words, or words that are not
the prospect's own; when it attributes the seller's words to the prospect ("you said ...");
when it repeats a quote, pain or piece an earlier email of the enrollment used; or when it makes
a claim it labels `source: "none"` (only greetings, thanks, questions, offers and calls to
action may go without a source). The subject gets the same link and instruction checks.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from gtmflow.agents._claims import is_factual
from gtmflow.agents._email_plan import Sentence
from gtmflow.agents._email_situation import Situation, quoted_spans
from gtmflow.agents._plain_text import EMAIL, URL, fold, is_instruction
from gtmflow.agents.insights import TranscriptInsights, normalise
from gtmflow.models import Transcript, Utterance

__all__ = ["MAX_QUOTE_WORDS", "EmailRules", "from_evidence", "is_plain"]

MAX_QUOTE_WORDS = 15
ATTRIBUTION = re.compile(
    r"\b(?:you (?:said|told me|mentioned|asked|raised|described|shared|noted|wrote|agreed|"
    r"explained|pointed out)|in your words|as you put it|as agreed|you'd like)\b",
    re.IGNORECASE,
)
_PLAIN_START = re.compile(
    r"^(?:hi|hello|hey|dear|thanks|thank you|best|kind regards|regards|cheers|looking forward|"
    r"let me know|happy to|feel free|hope|i hope|would|could|shall|should i|is this|if |"
    r"whenever|just reply|reply|checking in|i'll|i will|i can|i'd|i'm happy|let's|talk soon|"
    r"any questions)",
    re.IGNORECASE,
)


def is_plain(sentence: str) -> bool:
    """Whether a sentence may go without a source: a greeting, thanks, question, offer or call to
    action that states nothing checkable."""
    text = sentence.strip()
    if not text or text.endswith("?"):
        return True
    return bool(_PLAIN_START.match(text)) and not is_factual(text)


def from_evidence(insights: TranscriptInsights, prospects: Iterable[str] = ()) -> Transcript:
    """A stand-in transcript made of the insights' own quotes, when the transcript is not at hand.

    The quotes were checked against the real transcript when the insights were made; speakers of
    pains (and `prospects`) count as the prospect, everyone else as the seller.
    """
    theirs = {e.speaker for p in insights.pain_points for e in p.evidence} | set(prospects)
    quotes = list(dict.fromkeys((e.quote, e.speaker) for e in insights.quotes()))
    utterances = tuple(
        Utterance(speaker=speaker or "unknown", text=quote,
                  role="prospect" if speaker in theirs or not theirs else "seller")
        for quote, speaker in quotes
    ) or (Utterance(speaker="unknown", text="-"),)  # fmt: skip
    return Transcript(id=insights.transcript_id, utterances=utterances)


class EmailRules:
    """The checks for one email: what links are allowed, whose words are whose, what was used."""

    def __init__(self, s: Situation, *, links: Iterable[str]) -> None:
        self.s = s
        self.links = {u.rstrip("/.,)") for u in links if u}
        self.prospect = [normalise(t) for t in s.prospect_quotes]
        self.seller = [normalise(t) for t in s.seller_quotes]
        self.quoted = 0

    def problem(self, sentence: Sentence) -> str | None:
        """Why this sentence may not be sent (None: it may)."""
        text = fold(sentence.text)
        for check in (self._untrusted, self._quotes, self._attribution, self._repeat, self._none):
            reason = check(sentence, text)
            if reason:
                return reason
        self.quoted += len(quoted_spans(text))  # only the quotes of sentences that stay count
        return None

    def subject_problem(self, subject: str) -> str | None:
        """Why this subject may not be sent (None: it may)."""
        text = fold(subject)
        if EMAIL.search(text) or URL.search(text):
            return "the subject holds a link or an address"
        if is_instruction(text):
            return "the subject holds an instruction from untrusted text"
        return None

    def _untrusted(self, sentence: Sentence, text: str) -> str | None:
        if EMAIL.search(text):
            return "an email address (recipients are never the writer's to choose)"
        if any(m.group(0).rstrip("/.,)") not in self.links for m in URL.finditer(text)):
            return "a link that is not one of the library pieces given"
        if is_instruction(text):
            return "an instruction from untrusted text"
        return None

    def _quotes(self, sentence: Sentence, text: str) -> str | None:
        spans = quoted_spans(text)
        for span in spans:
            words = normalise(span).strip(" .,;:!?")
            if self.quoted + len(spans) > 1:
                return "a second verbatim quote (one per email)"
            if len(words.split()) > MAX_QUOTE_WORDS:
                return f"a quote longer than {MAX_QUOTE_WORDS} words"
            if words.lower() in self.s.usage.quotes:
                return "a quote an earlier email of this enrollment used"
            if not any(words in t for t in self.prospect):
                if any(words in t for t in self.seller):
                    return "the seller's words quoted as the prospect's"
                return "a quote that is not the prospect's own words"
        return None

    def _attribution(self, sentence: Sentence, text: str) -> str | None:
        if sentence.source != "transcript" or not sentence.ref or not ATTRIBUTION.search(text):
            return None
        ref = normalise(sentence.ref).strip(" .,;:!?\"'")
        if any(ref in t for t in self.seller) and not any(ref in t for t in self.prospect):
            return "the seller's words attributed to the prospect"
        return None

    def _repeat(self, sentence: Sentence, text: str) -> str | None:
        used = self.s.usage
        ref = sentence.ref or ""
        if sentence.source == "transcript" and normalise(ref).lower() in used.refs:
            return "a quote or pain an earlier email of this enrollment used"
        if sentence.source == "content" and ref and ref.split("#")[0] in used.pieces:
            return "a piece an earlier email of this enrollment linked"
        return None

    def _none(self, sentence: Sentence, text: str) -> str | None:
        if self.s.title:  # the webinar's title is the trigger's own fact, not a claim
            text = text.replace(self.s.title, "the webinar")
        if sentence.source == "none" and not is_plain(text):
            return "a claim labelled source 'none'"
        return None
