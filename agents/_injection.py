"""Injection detection: text in a transcript that addresses an AI or tries to give it orders.

Transcripts are data, never instructions; this check only makes sure a person reviewing sees
where someone tried. Text is read the way `gtmflow.tools.transcripts.fold_text` folds it (NFKC,
zero-width characters removed, Cyrillic/Greek look-alikes folded to Latin, spaced-out letters
joined), so "ignore" spelled with a Cyrillic "o", or with a zero-width space inside, reads as
"ignore". The patterns know three families: orders about instructions ("ignore previous
instructions", "new instructions", "you are now"), words addressed to a machine ("note for the
AI summarising this call", "SYSTEM:", "if you are a language model") and bulk or hidden
actions ("unsubscribe everyone", "forward this to x@y.z", "mark this lead as hot", "approve a
40% discount"). A turn whose speaker label is a machine (`SYSTEM`, `Assistant`, `AI`) is
suspicious whatever it says. Both brains use this check, so a model cannot talk it away.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from gtmflow.agents._extractors import split_sentences
from gtmflow.models import Transcript
from gtmflow.tools.transcripts import fold_text, is_suspicious_speaker

__all__ = ["INJECTION_PATTERNS", "Flagged", "find_injections", "looks_injected"]

_MACHINE = (
    r"(?:ai|a\.i\.|bot|chat ?bot|assistant|ai assistant|model|language model|llm|gpt|chat ?gpt|"
    r"claude|gemini|copilot|agent|ai agent|summari[sz]er|note[- ]?taker|transcriber|system|"
    r"automation|algorithm|crm bot)s?"
)
_RULES = (
    r"(?:instructions?|prompts?|rules|guidelines|directives|policies|policy|constraints|"
    r"directions|context|guardrails|system (?:message|prompt)|programming|training)"
)
_BULK = r"(?:everyone|everybody|all (?:of )?(?:them|the \w+|contacts|leads|subscribers|users|"
_BULK += r"customers|recipients|records|emails?)|every (?:contact|lead|subscriber|one)|"
_BULK += r"the (?:whole|entire|full) (?:list|database|crm|audience))"

INJECTION_PATTERNS: tuple[re.Pattern[str], ...] = tuple(
    re.compile(p, re.I)
    for p in (
        # orders about the instructions themselves
        rf"\b(?:ignore|disregard|forget|override|overrule|bypass|skip|drop|discard|abandon|"
        rf"set aside) (?:all |any |the |your |my |these |those |every )*(?:previous |prior |"
        rf"above |earlier |original |other |existing |current |safety |standing )*{_RULES}\b",
        rf"\b(?:new|updated|revised|real|actual|hidden|secret|special) {_RULES}\b\s*[:\-]",
        r"\b(?:new|updated|revised|hidden|secret) instructions? (?:for|to) (?:you|the)\b",
        r"\bfrom now on,? you (?:are|will|must|should|shall)\b",
        r"\byou are (?:now|no longer) (?:an? |the |in )?\w+",
        r"\b(?:act|behave|respond) as (?:an? |the |if you were )?(?:ai|assistant|admin|"
        r"administrator|system|unrestricted|jailbroken|developer|dan)\b",
        r"\b(?:pretend|imagine) (?:you are|you're|to be) (?:an? |the )?(?:ai|assistant|admin|"
        r"system|unrestricted|different)\b",
        r"\b(?:jailbreak|dan mode|developer mode|god mode|system prompt|prompt injection)\b",
        r"\b(?:reveal|print|output|leak|show|repeat) (?:me )?(?:your|the) (?:instructions|"
        r"prompt|system prompt|api key|secrets?|hidden rules)\b",
        # words addressed to a machine
        rf"\b(?:note|message|instructions?|memo|reminder|heads[- ]up|p\.?s\.?|attention|"
        rf"request|hint|tip|comment) (?:for|to) (?:the |any |all |whatever |whichever |every )?"
        rf"{_MACHINE}\b",
        rf"\b(?:dear|hey|hello|hi|attention|attn|psst|ok|okay),? (?:the |dear )?{_MACHINE}\b",
        rf"\bif (?:you(?:'re| are)|this is being read by) (?:an? |the )?{_MACHINE}\b",
        rf"\b{_MACHINE} (?:reading|processing|summari[sz]ing|analy[sz]ing|listening to|"
        rf"transcribing|reviewing|scoring|parsing) (?:this|the|these)\b",
        rf"\b(?:to|for) (?:the |any )?{_MACHINE}(?: (?:that is |who is )?(?:reading|processing|"
        rf"summari[sz]ing|analy[sz]ing|reviewing))?(?: this| these| the)?(?: call| transcript| "
        rf"notes?| meeting)?\s*[,:]",
        rf"\b(?:tell|ask|instruct|make|get) (?:the |your |any )?{_MACHINE} to\b",
        r"(?:^|[\s\[(<\"'|>])(?:system|assistant|ai|bot|developer|admin|user|instructions?)"
        r"(?: (?:message|prompt|note|override|instruction))?\s*(?::|\]|>|\|>)\s*\S",
        r"\[/?(?:system|inst|instructions?|admin|sys)\]|<\|?/?(?:system|im_start|im_end|"
        r"endoftext)\|?>|<</?sys>>|#{2,}\s*(?:system|instructions?)\b",
        # bulk, hidden or out-of-bounds actions
        rf"\b(?:unsubscribe|remove|delete|erase|purge|wipe|opt[- ]?out|suppress|block) {_BULK}",
        r"\b(?:delete|erase|purge|wipe|drop|export|dump|download) (?:all|every|the (?:whole|"
        r"entire))? ?(?:contacts|leads|records|data|database|crm|deals|tables?|list)\b",
        rf"\b(?:email|send|forward|message|blast|mail|cc|bcc) (?:this |it |the \w+ )?(?:to )?"
        rf"{_BULK}",
        r"\b(?:send|forward|email|cc|bcc|copy|mail|export) (?:\w+ ){0,6}(?:to )?"
        r"[\w.+-]+@[\w-]+\.[\w.]+",
        r"\b(?:mark|set|score|classify|tag|flag|label|rate|move|change|update) (?:this|me|the|my|"
        r"our|all|every)? ?(?:(?:lead|contact|deal|prospect|account|opportunity|stage|score|"
        r"call)s? ){1,2}(?:as |to |at )?(?:hot|qualified|closed[- ]won|won|100|a priority|"
        r"top priority|urgent|positive|high|sql|mql)\b",
        r"\b(?:approve|grant|give|apply|authori[sz]e|issue) (?:them |us |me )?(?:a |an )?"
        r"(?:\d+ ?% |full |free |maximum )?(?:discount|refund|credit)\b",
        r"\bdo not (?:tell|mention|inform|alert|notify|flag|report|show) (?:this |it )?(?:to )?"
        r"(?:anyone|anybody|the (?:user|team|sales|human|reviewer|rep)s?)\b",
        r"\b(?:summari[sz]e|report|describe|record|log) (?:this|the) (?:call|meeting|lead|deal)"
        r" as (?:very )?(?:positive|hot|qualified|a win|ready to buy)\b",
    )
)


@dataclass(frozen=True)
class Flagged:
    """One suspicious sentence: which utterance, its exact text, and why."""

    utterance: int
    text: str
    reason: str


_ANY_INJECTION = re.compile("|".join(f"(?:{p.pattern})" for p in INJECTION_PATTERNS), re.I)


def looks_injected(text: str) -> bool:
    """Whether `text` (folded first) addresses an AI or gives it orders."""
    return _ANY_INJECTION.search(fold_text(text)) is not None


def find_injections(transcript: Transcript) -> Iterator[Flagged]:
    """Every suspicious sentence, verbatim, and every turn of a machine-named speaker."""
    machines = {n for n in {u.speaker for u in transcript.utterances} if is_suspicious_speaker(n)}
    for index, utterance in enumerate(transcript.utterances):
        if utterance.speaker in machines:
            yield Flagged(index, utterance.text, f"a turn labelled '{utterance.speaker}'")
            continue
        if not looks_injected(utterance.text):
            continue  # one search per turn; sentences only where the turn has something
        for sentence in split_sentences(index, utterance.text):
            if looks_injected(sentence.text):
                yield Flagged(index, sentence.text, "text addressed to an AI system")
