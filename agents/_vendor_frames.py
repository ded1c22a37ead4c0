"""The frames vendors are talked about in, for `_vendors.py`: the words before or after a name
and the role they give it ("we moved off X": past, "X quoted us": evaluating)."""

from __future__ import annotations

from typing import Literal

__all__ = ["AFTER", "BEFORE", "DETERMINER", "Role"]

Role = Literal["incumbent", "evaluating", "past", "mentioned"]

DETERMINER = r"(?:(?:a|an|the|our|their|this|that|some)\s+)?(?:(?:old|homegrown|legacy|custom|new|"
DETERMINER += r"basic|free|current|cheap|hosted|big|paid)\s+){0,2}"
_WE = r"(?:we|i|we've|we're|i'm|i've)"
_ADVERB = r"(?:all|still|currently|also|already|mostly|now|basically|actually|both|really|just)"

# (frame before the name, role); {name} is where the name starts.
BEFORE: tuple[tuple[str, Role], ...] = (
    (
        rf"\b{_WE}(?:'re| are| were)? (?:\w+ )?(?:moved|switched|migrated|transitioned|came|"
        r"graduated) (?:off(?: of)?|away from|from|over from)",
        "past",
    ),
    (r"\b(?:moved|switched|migrated|came) (?:off(?: of)?|away from|over from)", "past"),
    (
        rf"\b{_WE} (?:\w+ )?(?:used to (?:use|be on|run|have)|left|dropped|ditched|cancel+ed|"
        r"replaced|got rid of|ripped out|outgrew|churned from|piloted|trialed|trialled|tried)",
        "past",
    ),
    (rf"\b{_WE} (?:\w+ )?(?:tested|used|had)", "past"),
    (rf"\b{_WE} did (?:a )?(?:trial|try|pilot|test)(?: of| with)?", "past"),
    (r"\b(?:we|i) (?:were|was) (?:\w+ )?(?:on|using)", "past"),
    (r"\b(?:ran|was|were) (?:\w+ )?(?:on|in|through)", "past"),
    (
        r"\b(?:evaluating|considering|looking at|looked at|assessing|weighing|trialing|"
        r"trialling|piloting|leaning toward|demoing|demoed|scoping|shortlisted|did look at|"
        r"talked to|talked with|spoke with|spoke to|priced|priced out|got a quote from|got "
        r"pricing from|got a demo from|saw a demo (?:of|from))",
        "evaluating",
    ),
    (r"\b(?:saw|heard|got) from", "evaluating"),
    (
        r"\b(?:taking|take|took|have|had|having) a (?:quick |closer |hard |second )?look at",
        "evaluating",
    ),
    (
        r"\b(?:replace|replacing|rip out|ripping out|move off|moving off|get off|getting off|"
        r"switch off|switching from|leave|leaving|migrate off|migrating off) (?:of )?",
        "incumbent",
    ),
    (
        r"\b(?:locked in(?:to)?(?: with)?|signed (?:a |an )?(?:[\w-]+ ){0,2}?(?:deal |contract |"
        r"agreement )?with|(?:get|got|getting) out of)",
        "incumbent",
    ),
    (
        r"\b(?:pulls?|pulling|reads?|reading|feeds?|feeding|push\w*|exports?|imports?) "
        r"(?:\w+ ){0,2}?(?:from|to|into|out of)",
        "incumbent",
    ),
    (r"\b(?:talking to|talking with|speaking with|meeting with|reviewing|testing)", "evaluating"),
    (r"\bcompar\w* (?:\w+ ){0,3}?(?:with|to|against|and)", "evaluating"),
    (
        r"\b(?:quote|proposal|bid|offer|pitch|demo|price|pricing|number|rfp response) from",
        "evaluating",
    ),
    (
        r"\b(?:versus|vs\.?|instead of|rather than|cheaper than|lower than|better than|"
        r"against)",
        "evaluating",
    ),
    (r"\bwants? us (?:on|to (?:use|move to|go with|switch to|look at))", "evaluating"),
    (r"\b(?:go|going|went|go ahead) with", "evaluating"),
    (
        rf"\b{_WE}(?:'re| are|'ve been| have been)? (?:{_ADVERB} ){{0,2}}(?:on|using|use|run|"
        r"running|"
        r"rely on|depend on|standardi[sz]ed on|built on|stuck (?:on|with)|licensed|paying for|"
        r"pay for|live in|live on)(?: everything on| it all on| everything through)?",
        "incumbent",
    ),
    (rf"\b{_WE} (?:\w+ )?(?:switched|moved|migrated) (?:\w+ )?to", "incumbent"),
    (rf"\b{_WE} (?:{_ADVERB} )?have", "incumbent"),
    (
        rf"\b{_WE} (?:{_ADVERB} )?(?:host|keep|store|track|manage|do|send|submit|process|build|"
        r"book|schedule|bill|invoice) (?:\w+ ){0,2}?(?:on|in|through|out of|via|with)",
        "incumbent",
    ),
    (
        r"\b(?:uses?|runs?|swears? by|picked|chose|bought|signed with|switched to|moved to)"
        r"(?! (?:on|in|through|into|via)\b)",
        "incumbent",
    ),
    (
        r"\b(?:integrates?|plugs?|syncs?|connects?|talks?|works?|sits?|play) (?:\w+ )?(?:with|"
        r"into|to|alongside|on top of)",
        "incumbent",
    ),
    (r"\bour (?:\w+ ){1,2}(?:is|are)", "incumbent"),
    (
        r"\bour (?:\w+ ){0,2}(?:company|vendor|provider|partner|supplier|service|firm|processor|"
        r"platform|system|software|tool|bank|lender|insurer|carrier|distributor|agency|lab),",
        "incumbent",
    ),  # "our payroll company, Entertainment Partners, ..."
    (
        r"\b(?:runs?|running|lives?|sits?|done|kept|handled|managed|tracked|built|hosted|"
        r"stored|comes? in|goes out|go out) (?:\w+ )?(?:on|in|through|into|via)",
        "incumbent",
    ),
    (
        r"\bour (?:\w+ )?(?:crm|erp|wms|tms|system|platform|tool|vendor|provider|software|"
        r"stack|pms|ehr|emr|lms|hris|ats|pos|cms) (?:is|are)",
        "incumbent",
    ),
    (r"\b(?:still|currently|today|right now) (?:on|with|using)", "incumbent"),
    (r"\b(?:has|have|'s|'ve) been (?:\w+ )?(?:on|using|running|with)", "incumbent"),
    (r"\b(?:is|are) (?:all |still |currently |mostly )?(?:on|through)", "incumbent"),
    (r"\b(?:renewal|contract|license|subscription|agreement) (?:with|for|from)", "incumbent"),
    (r"\b(?:reached out|emailed|called) (?:from|by)", "mentioned"),
)
# (frame after the name, role).
AFTER: tuple[tuple[str, Role], ...] = (
    (
        r"^(?:\s(?:also|just|then|already|actually|even|recently))?\s(?:quoted|pitched|demoed|"
        r"proposed|bid|presented|came in|came back|coming in|is coming in|gave us|sent us|"
        r"pitch\w*|"
        r"offered|is coming|are coming|came on site|did a demo|priced)",
        "evaluating",
    ),
    (r"^\s(?:is|are) (?:on|in) (?:our|the) (?:short ?list|running|mix)", "evaluating"),
    (r"^(?:'s|\u2019s) (?:proposal|quote|bid|pricing|demo|offer|rep|number)", "evaluating"),
    (
        r"^(?:'s|\u2019s) (?:renewal|contract|license|instance|subscription|bill|invoice|account)",
        "incumbent",
    ),
    (r"^\s(?:is|are) (?:our|what we use|what we run|the system|where)", "incumbent"),
    (
        r"^\s(?:handles?|runs?|tracks?|powers?|holds?) (?:\w+ )?(?:our|the|all|every|that|it|"
        r"this|most|everything|mobile|online|payroll|billing|booking|scheduling)",
        "incumbent",
    ),
    (r"^\s(?:demo|pitch|proposal|quote|bid|trial|sales rep|rep)\b", "evaluating"),
    (
        r"^\s(?:contract|renewal|license|licence|instance|subscription|rollout|connector|"
        r"integration|account|login|setup|set-up|data|system)\b",
        "incumbent",
    ),
    (r"^\s(?:offers|includes|charges) ", "mentioned"),
    (
        r"^\s(?:also )?(?:reached out|keeps emailing|emailed|called|came up|cold[- ]called|"
        r"pinged)",
        "mentioned",
    ),
)
