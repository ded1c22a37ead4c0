"""Cue lexicons of the rules transcript analyser: weighted patterns per category.

Each category has cues of weight 1.0 (enough alone) and 0.5 (need a second cue). Patterns are
written for spoken B2B sales language (discovery, demo, negotiation calls) and tuned on the
exemplar calls in `examples/sample_transcripts.py`, never on the held-out evaluation set in
`benchmarks/data/`. `NEGATORS` cancel a pain or objection cue ("no problem", "not a concern").
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

__all__ = [
    "AUTHORITY_TITLES",
    "CUES",
    "DEFAULT_COMPETITORS",
    "INJECTION",
    "NEGATORS",
    "OBJECTION_TOPICS",
    "SALES_SENTIMENT",
    "Cue",
]

Cue = tuple[re.Pattern[str], float]


def _cues(strong: Sequence[str], weak: Sequence[str] = ()) -> tuple[Cue, ...]:
    flags = re.IGNORECASE
    return tuple(
        [(re.compile(rf"\b(?:{p})(?!\w)", flags), 1.0) for p in strong]
        + [(re.compile(rf"\b(?:{p})(?!\w)", flags), 0.5) for p in weak]
    )


_ONE_TO_THREE = r"(?:\w+\s+){0,3}"

PAIN = _cues(
    strong=[
        r"struggl\w*",
        r"(?:biggest|main|real|major|big|key|top) (?:challenge|problem|issue|pain|headache|"
        r"bottleneck|concern|frustration)s?",
        r"pain ?points?",
        r"frustrat\w+",
        r"nightmare",
        r"headaches?",
        r"bottlenecks?",
        r"(?:way |far )?too (?:much time|long|slow|manual|many (?:tools|steps|spreadsheets))",
        r"spend\w* (?:way |far )?too much",
        r"wast\w+ (?:\w+ )?(?:time|hours|days|money|effort)",
        r"(?:is|are|it's|that's) (?:a |such a |kind of a |a bit of a )?(?:mess|broken|painful|"
        r"clunky|a disaster|chaos|chaotic)",
        r"error[- ]prone",
        r"fall(?:s|ing)? through the cracks",
        r"no (?:real |good |single )?(?:visibility|insight|way to|source of truth|idea (?:what|who|"
        r"where|which|how))",
        r"(?:can't|cannot|couldn't|can not|unable to|hard to|difficult to|no easy way to|"
        r"impossible to|struggle to|don't know how to) " + _ONE_TO_THREE + r"(?:find|see|track|"
        r"tell|know|trust|scale|keep up|get|report|measure|manage|respond|keep track|figure out|"
        r"prove|forecast|hire|integrate|connect|attribute)",
        r"(?:not|isn't|doesn't|won't|never) scal\w+",
        r"(?:we're|we are|they're|i'm) (?:losing|missing|behind|drowning|stuck|overwhelmed|"
        r"burning|blind)",
        r"(?:high|rising|increasing) (?:churn|turnover|costs?|attrition)",
        r"close call",
        r"keeps? (?:breaking|crashing|failing|going down)",
        r"(?:mostly |all |completely |still |entirely )?manual(?:ly)?(?: process| work| entry|"
        r" right now|ly)?",
        r"spreadsheets?",
        r"(?:takes?|took|taking) (?:us |them |me )?(?:\w+ )?(?:hours|days|weeks|months|forever|"
        r"ages)",
        r"(?:compliance|audit|security) (?:risks?|issues?|problems?|findings?|gaps?)",
        r"(?:out of date|outdated|stale|inaccurate|unreliable|inconsistent)",
        r"(?:constantly|always|keep) (?:asking|chasing|fighting|firefighting|scrambling)",
        r"(?:fed up|sick of|tired of)",
        r"(?:miss(?:ed|ing)) (?:our |the )?(?:targets?|quota|numbers?|deadlines?|forecast)",
        r"(?:lost|losing) (?:deals|customers|revenue|leads|track)",
        r"silos?|siloed|disconnected|scattered|spread across",
        r"(?:don't|do not|doesn't) (?:talk to each other|integrate|sync)",
        r"by hand|(?:a |the )?pile of|buried (?:in|under)|swamped|scared",
        r"slip(?:s|ped|ping)? (?:away|through)|(?:ran|run|running) out of",
        r"(?:eats|eat|eating|eaten) (?:up )?(?:half|most|all|a lot|hours|days)",
        r"nobody (?:can|knows|understands|buys|reads|uses)|only one (?:person|analyst|guy)",
        r"(?:got|get|getting) (?:hit|burned|burnt)|(?:incidents?|outages?|breach(?:es)?)\b",
    ],
    weak=[
        r"challeng\w*",
        r"problems?",
        r"issues?",
        r"difficult\w*",
        r"slow(?:er|ly)?",
        r"complain\w*",
        r"pressure",
        r"risk\w*",
        r"worr(?:y|ied|ies)",
        r"concern\w*",
        r"costs? us",
        r"hours? (?:a|per|each|every) (?:week|day|month)",
        r"every (?:week|month|quarter)",
        r"(?:need|have) to get a handle",
    ],
)

OBJECTION = _cues(
    strong=[
        r"(?:too|very|really|quite|pretty) (?:expensive|pricey|costly|steep|high)",
        r"(?:out of|over|above|beyond|exceeds?) (?:our |the )?(?:budget|price range|range)",
        r"(?:\d+ ?%|much|a lot|significantly|way) (?:higher|more expensive|more) than",
        r"(?:hard|tough|difficult) (?:to justify|sell)",
        r"can(?:'t|not) justify",
        r"(?:budget|spend(?:ing)?) (?:is |are )?(?:tight|limited|frozen|cut|constrained|on hold)",
        r"(?:hiring|budget|spending) freeze",
        r"(?:not|isn't|wasn't) (?:the )?right time",
        r"(?:no|don't have the|limited) bandwidth",
        r"(?:too|really|very|pretty|slammed|swamped) busy",
        r"(?:put|putting|keep) (?:this|it|things) on hold",
        r"(?:revisit|circle back|look at this again|reconsider) (?:in|next|later|after)",
        r"(?:already|currently) (?:have|use|using|pay for|signed with|invested in)",
        r"(?:happy|fine|ok|okay|satisfied) with (?:our|what we|the current|how)",
        r"(?:don't|do not) (?:really )?(?:see|need) (?:the |a )?(?:need|value|point)",
        r"not (?:a|our) (?:top |big |high |real )?priority",
        r"(?:deal[- ]?breaker|blocker|red flag|non[- ]starter|show[- ]?stopper)",
        r"(?:concerns?|worried|worries|hesitant|hesitation|skeptical|sceptical|nervous|"
        r"reservations?|apprehensive) (?:about|that|with|on|around|regarding)",
        r"(?:i'm|we're|i am|we are) (?:not sure|not convinced|unsure|on the fence)",
        r"(?:cheaper|less expensive|lower (?:price|cost|quote)|better (?:price|deal|offer))",
        r"(?:proposed|quoted|offered) (?:us )?(?:less|lower|a lower|a better)",
        r"what (?:if|happens if) (?:it|this|the|we)",
        r"locked (?:in|into)",
        r"(?:wary|balk|push back|pushback|resist\w*)",
        r"(?:another|a second|yet another) (?:monthly )?(?:bill|tool|system|platform|vendor)",
        r"(?:contract|renewal) (?:doesn't|does not|won't) (?:end|expire|come up)",
    ],
    weak=[
        r"but\b",
        r"however",
        r"expensive|pricey|costly",
        r"(?:not|never) (?:sure|convinced)",
        r"worr(?:y|ied)",
        r"concern\w*",
        r"(?:what about|how about|how do you handle|does it (?:work|integrate)|will it)",
        r"(?:discount|negotiat\w+)",
        r"(?:approval|sign[- ]off)",
    ],
)

OBJECTION_TOPICS: Mapping[str, re.Pattern[str]] = {
    "price": re.compile(
        r"\b(?:price|pricing|cost|costs|expensive|pricey|budget|afford|quote|quoted|proposal|"
        r"discount|\$|€|£|dollars?|euros?|roi|spend|cheaper|fees?|licen[cs]e)\b|[$€£]\d",
        re.I,
    ),
    "timing": re.compile(
        r"\b(?:timing|right time|bandwidth|busy|on hold|next (?:year|quarter)|later|freeze|"
        r"revisit|after the|priorit\w+|timeline)\b",
        re.I,
    ),
    "authority": re.compile(
        r"\b(?:approv\w+|sign[- ]off|cfo|ceo|board|procurement|legal|boss|leadership|"
        r"run (?:this|it) by|check with|my (?:manager|vp|director))\b",
        re.I,
    ),
    "security": re.compile(
        r"\b(?:security|secure|soc ?2|iso ?27001|gdpr|hipaa|ccpa|privacy|data residency|"
        r"encrypt\w*|pen(?:etration)? test|sso|compliance|breach|sensitive data|pii)\b",
        re.I,
    ),
    "integration": re.compile(
        r"\b(?:integrat\w+|api|apis|connector|connect|compatib\w+|sync|plug ?in|"
        r"work with (?:our|the)|salesforce|hubspot|snowflake|servicenow|slack|erp|crm)\b",
        re.I,
    ),
    "implementation": re.compile(
        r"\b(?:implement\w*|onboard\w*|rollout|roll out|migrat\w+|downtime|disrupt\w*|"
        r"learning curve|training|adoption|set ?up|deploy\w*|performance|false positives?|"
        r"resources|change management)\b",
        re.I,
    ),
    "competition": re.compile(
        r"\b(?:competitor|alternative|other (?:vendors?|tools?|options?))\b", re.I
    ),
    "need": re.compile(
        r"\b(?:already (?:have|use)|happy with|don't (?:really )?need|not a priority|"
        r"works fine|current (?:tool|system|vendor|solution))\b",
        re.I,
    ),
}

BUYING_SIGNAL = _cues(
    strong=[
        r"(?:sounds|looks|seems) (?:really |very |pretty )?(?:great|good|impressive|promising|"
        r"perfect|exactly|like what we need|like a fit|useful|helpful|valuable)",
        r"(?:very |really |pretty )?impressive",
        r"(?:love|like) (?:this|that|what i'm seeing|the)",
        r"exactly what (?:we|i) (?:need|want|were looking for)",
        r"that(?:'s| is| would be| could be) (?:really |very |super |incredibly )?(?:helpful|"
        r"valuable|useful|great|huge|a game changer|interesting)",
        r"(?:in|within) (?:our |the )?ballpark",
        r"(?:fits|within|fit) (?:our |the )?budget",
        r"budget (?:is |has been )?(?:approved|allocated|set aside|earmarked|secured)",
        r"how (?:soon|quickly|fast) (?:can|could|would) (?:we|you)",
        r"when (?:can|could) we (?:start|get started|begin|go live|kick off|sign)",
        r"(?:can|could|would) (?:we|you) (?:send|get|set up|include|schedule|start|do|arrange|"
        r"put together) " + _ONE_TO_THREE + r"(?:proposal|contract|quote|pilot|trial|demo|poc|"
        r"proof of concept|call|order form|paperwork|deep dive|ciso|cto|cfo|team)",
        r"what (?:are|would be|is) (?:the )?next steps?",
        r"(?:let's|we'd like to|we want to|we're ready to|ready to|i'd like to|keen to|eager to) "
        r"(?:move forward|go ahead|proceed|sign|get started|start|pilot|trial|kick off|do this)",
        r"(?:that|this) (?:could|would|might) (?:work|help|solve)",
        r"(?:definitely|really) (?:helps?|interested|want)",
        r"we(?:'d| would) (?:definitely |really )?(?:be interested|want to|like to see|need this)",
        r"(?:pilot|trial|proof of concept|poc)\b",
        r"(?:share|send) (?:this|it) with (?:my|our|the) (?:team|boss|cfo|ceo|cto|vp|director)",
        r"(?:makes|make) (?:a lot of |total )?sense",
        r"(?:fair point|good point|point taken)",
        r"(?:that|this) (?:helps|works) (?:with|for) (?:the |our )?budget",
        r"(?:would|could|will) make a (?:real |big |huge )?difference",
        r"(?:like|love) the sound of",
        r"(?:that|this) changes things",
    ],
    weak=[
        r"how (?:does|do|would) (?:the )?(?:pricing|licensing|onboarding|implementation|"
        r"contract|rollout)",
        r"what (?:does|would) (?:it|this|implementation|onboarding) (?:cost|look like|take)",
        r"interested",
        r"(?:great|excellent|perfect|awesome|fantastic|nice)",
        r"(?:valuable|helpful|useful)",
    ],
)

NEXT_STEP = _cues(
    strong=[
        r"next steps?",
        r"(?:i'll|i will|we'll|we will|i'm going to|we're going to|let me|i can|i'd) "
        r"(?:\w+ )?(?:send|share|set up|schedule|book|loop in|bring|follow up|get back|"
        r"put together|draft|circle back|introduce|include|forward|reach out|check|confirm|"
        r"review|run (?:this|it) by|talk to|speak (?:with|to)|have (?:that|it|a))",
        r"(?:can|could|would) you (?:please |also |just )*(?:send|share|email|forward|get) "
        r"(?:me|us|over|that)",
        r"(?:send|get|share) (?:me|us|you|over) (?:a |the |your |our )?(?:revised |updated |"
        r"formal )?(?:proposal|quote|contract|deck|recap|summary|pricing|case stud\w+|"
        r"calendar invite|invite|details|documentation|order form|msa|security questionnaire)",
        r"let's (?:schedule|set up|book|plan|meet|reconnect|touch base|find (?:a )?time|"
        r"get (?:a|the|something)|do (?:a|the)|aim for|regroup)",
        r"(?:schedule|book|set up|arrange) (?:a |the |an )?(?:\w+ )?(?:call|meeting|demo|deep "
        r"dive|follow[- ]up|session|workshop|pilot|review|walkthrough|kickoff)",
        r"follow[- ]up (?:call|meeting|email|session)",
        r"(?:calendar|meeting) invite",
        r"(?:by|before|on|next|this) (?:monday|tuesday|wednesday|thursday|friday)",
        r"(?:by|before) (?:end of (?:the )?(?:day|week)|tomorrow|next week|eod|eow)",
    ],
    weak=[
        r"(?:next week|tomorrow|later this week)",
        r"(?:pilot program|technical deep dive|deep dive)",
        r"(?:proposal|contract|quote)",
    ],
)

AUTHORITY = _cues(
    strong=[
        r"decision[- ]?makers?",
        r"(?:final|ultimate|last) (?:say|decision|call|word|sign[- ]?off)",
        r"sign(?:s|ing|ed)?[- ]?off",
        r"(?:needs?|has|have|got) to (?:be )?(?:approv\w+|sign\w*|okay|ok|green[- ]?light)",
        r"(?:approv\w+) (?:from|by) (?:my|our|the)",
        r"(?:run|running) (?:this|it|that) (?:by|past)",
        r"(?:check|checking) with (?:my|our|the)",
        r"(?:loop|looping|bring|bringing|involve|involving|get|getting|include|including) "
        r"(?:in )?(?:my|our|the) (?:cfo|ceo|cto|coo|cio|ciso|cmo|cro|vp|head|director|boss|board|"
        r"leadership|procurement|legal|finance|security team|it team|manager)",
        r"budget (?:holder|owner)",
        r"(?:i|i'm|i am) (?:the one who|responsible for|in charge of|the (?:final )?decision)",
        r"(?:i|we) (?:own|control|hold) (?:the )?(?:budget|decision)",
        r"report(?:s|ing)? (?:directly )?(?:to|into)",
        r"(?:cfo|ceo|cto|coo|cio|ciso|board|procurement|legal|leadership|finance|committee|"
        r"vp of \w+|head of \w+) (?:will|would|has to|needs to|must|wants to|has the) "
        r"(?:approve|sign|decide|review|be involved|weigh in|see|final|look|check)",
        r"buying (?:committee|group|process)",
        r"stakeholders?",
    ],
    weak=[r"approv\w+", r"(?:cfo|ceo|cto|coo|cio|ciso|board|procurement)"],
)

BUDGET = _cues(
    strong=[
        r"budget\w*",
        r"(?:allocated|set aside|earmarked)",
        r"(?:can|could|able to|willing to|plan to|planning to) (?:spend|invest|pay)",
        r"(?:spend|spending|invest|investment) (?:is |of |around |about |up to |roughly )",
        r"ballpark",
        r"price (?:range|tag|point)",
        r"(?:per|a|each) (?:year|month|seat|user|license)",
        r"annual(?:ly)?|yearly|monthly",
    ],
)

TIMELINE_CONTEXT = re.compile(
    r"\b(?:go[- ]live|going live|launch\w*|roll ?out|rolling out|implement\w*|in place|"
    r"up and running|decid\w+|decision|sign\w*|contract|renewal|renews?|deadline|start\w*|"
    r"kick ?off|need (?:this|it|something|a solution)|deploy\w*|budget cycle|fiscal|close|"
    r"live|ready|before|by|no later than|wrap up|finaliz\w+|choose|select\w*|purchase|buy)\b",
    re.I,
)

NEGATORS = re.compile(
    r"\b(?:no|not (?:a|an|really a|much of a)|never (?:a|an)|without (?:any )?|zero) "
    r"(?:problem|issue|concern|challenge|worr(?:y|ies)|complaints?|risk)s?\b|"
    r"\b(?:don't|doesn't|didn't|do not|never) (?:really )?(?:worry|struggle|have (?:a|any) "
    r"(?:problem|issue))|\bnot (?:worried|concerned)\b|\bno longer\b",
    re.I,
)

INJECTION = re.compile(
    r"(?:ignore|disregard|forget|override|bypass) (?:all |any |the |your |my )?(?:previous |prior |"
    r"above |earlier |other |existing )?(?:instructions?|prompts?|rules|guidelines|directives|"
    r"messages)|(?:system prompt|developer (?:message|mode)|jailbreak|you are now|act as (?:an? )?"
    r"(?:ai|assistant|admin|system)|new instructions?|as an ai|(?:^|\s)(?:system|assistant)\s*:|"
    r"\[/?(?:system|inst|instructions?)\]|<\|?(?:system|im_start)|"
    r"(?:to|the) (?:ai|bot|assistant|language model|llm|agent)(?: reading| processing| "
    r"summari[sz]ing)?(?: this)?[,:]|"
    r"(?:send|forward|email|cc|bcc) (?:\w+ ){0,5}(?:to )?[\w.+-]+@[\w-]+\.[\w.]+|"
    r"(?:mark|set|score|classify) (?:this|me|the) (?:lead|contact|deal|prospect)? ?(?:as )?"
    r"(?:hot|qualified|closed[- ]won|100|a priority)|"
    r"(?:reveal|print|output|leak) (?:your|the) (?:instructions|prompt|api key|system)|"
    r"do not (?:tell|mention|inform) (?:anyone|the (?:user|team|sales))|"
    r"(?:approve|grant) (?:a |an )?(?:\d+ ?% )?(?:discount|refund))",
    re.I,
)

AUTHORITY_TITLES = re.compile(
    r"\b(?:(?:our|my|the) )?(?P<title>cfo|ceo|cto|coo|cio|ciso|cmo|cro|vp(?: of)? [a-z]+|"
    r"head of [a-z]+|director of [a-z]+|board|procurement|legal(?: team)?|finance(?: team)?|"
    r"security team|it team|leadership(?: team)?|boss|manager|founder|owner|committee)\b",
    re.I,
)

SALES_SENTIMENT: Mapping[str, float] = {
    # VADER's lexicon is tuned on social media; sales calls need these adjustments.
    "pricey": -1.5, "expensive": -1.6, "steep": -1.2, "overpriced": -2.2,
    "concern": -1.0, "concerns": -1.0, "concerned": -1.2, "worried": -1.6, "hesitant": -1.2,
    "skeptical": -1.4, "blocker": -1.6, "dealbreaker": -2.4, "unfortunately": -1.2,
    "impressive": 2.2, "ballpark": 0.8, "valuable": 1.9, "compelling": 1.9, "seamless": 1.6,
    "intuitive": 1.5, "excited": 2.0, "interested": 1.2, "promising": 1.8, "fits": 1.0,
    "helps": 1.0, "works": 0.6, "justify": -0.4, "competitive": 0.6, "robust": 1.4,
    # neutral in sales talk though VADER scores them
    "pain": 0.0, "problem": 0.0, "challenge": 0.0, "no": 0.0, "kill": 0.0, "demo": 0.0,
    "pretty": 0.0, "free": 0.0, "like": 0.0,
}  # fmt: skip

DEFAULT_COMPETITORS: tuple[str, ...] = (
    "Salesforce", "HubSpot", "Marketo", "Pardot", "Eloqua", "Outreach", "Salesloft", "Gong",
    "Chorus", "Clari", "Apollo", "ZoomInfo", "6sense", "Demandbase", "Pipedrive", "Zoho",
    "Microsoft Dynamics", "Mailchimp", "Braze", "Iterable", "Klaviyo", "ActiveCampaign",
    "Intercom", "Zendesk", "Freshworks", "Drift", "Mixpanel", "Amplitude", "Segment",
    "Collibra", "Alation", "Informatica", "OneTrust", "Monday.com", "Asana", "Tableau", "Looker",
)  # fmt: skip

CUES: Mapping[str, tuple[Cue, ...]] = {
    "pain": PAIN,
    "objection": OBJECTION,
    "buying_signal": BUYING_SIGNAL,
    "next_step": NEXT_STEP,
    "authority": AUTHORITY,
    "budget": BUDGET,
}
