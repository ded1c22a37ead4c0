"""The embedding nearest-exemplar sentence classifier of the rules analyser (optional).

Cue lexicons are precise but miss paraphrases ("it eats half their morning" is a pain without a
pain word). This classifier embeds each sentence with the offline MiniLM embedder
(`gtmflow.tools.embeddings`) and compares it with short exemplar sentences per category and with
neutral exemplars; a category scores when its nearest exemplars are clearly closer than the
neutral ones. The exemplars below were written for gtmflow and are independent of the held-out
evaluation calls (`benchmarks/data/heldout_calls.json`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["EXEMPLARS", "ExemplarClassifier"]

EXEMPLARS: Mapping[str, tuple[str, ...]] = {
    "pain": (
        "We do all of this by hand and it takes forever.",
        "Our team wastes hours every week copying data between systems.",
        "Nobody can tell me which of our campaigns actually works.",
        "Every month end is a scramble to reconcile the numbers.",
        "Customers keep complaining that we respond too slowly.",
        "We lost two big accounts last quarter because of outages.",
        "Reporting is a nightmare, it lives in a dozen spreadsheets.",
        "The old system crashes whenever traffic spikes.",
        "Our reps spend more time on admin than on selling.",
        "We have no idea where our sensitive data is stored.",
        "Onboarding a new hire takes us almost two months.",
        "Things fall through the cracks between sales and support.",
        "We keep paying overtime to cover the gaps in the schedule.",
        "Our costs have gone up and we can't see why.",
        "The audit found a lot of gaps and the board was not happy.",
        "My analysts are drowning in alerts they never get to.",
        "Inventory is always wrong so we over-order to be safe.",
        "It eats up most of their day.",
        "Parents and customers cannot find what they need and call us instead.",
        "We ran out of stock twice during the busiest weeks.",
    ),
    "objection": (
        "That price is a lot more than we expected to pay.",
        "I'm worried my team won't have time to adopt another tool.",
        "We already have something that does most of this.",
        "Honestly this isn't a priority for us right now.",
        "I'm not convinced it will work with our setup.",
        "The other vendor came in quite a bit cheaper.",
        "We can't send customer data outside of Europe.",
        "Our contract with the current provider runs for another two years.",
        "I'd struggle to justify the cost to finance.",
        "My concern is how long the rollout will take.",
        "We are in the middle of a big migration, so the timing is bad.",
        "The last tool we bought never got used, people hated it.",
        "Security will need to review this and that can take months.",
        "I don't think leadership will approve a new system this year.",
        "Will it integrate with the systems we already run?",
        "Our staff are not very technical, I doubt they'd use it.",
    ),
    "buying_signal": (
        "This is exactly what we have been looking for.",
        "Wow, that would save us a ton of time.",
        "How quickly could we get started?",
        "Can you send over a proposal?",
        "What would pricing look like for a team our size?",
        "I'd love to get my boss in front of this.",
        "That fits within what we have set aside.",
        "Could we try it out with one team first?",
        "That changes things for us.",
        "I really like how simple that was.",
        "Let's move forward with a pilot.",
        "That could work for us.",
        "My team would love this.",
        "What do we need to do to get this in place?",
    ),
    "next_step": (
        "I'll send you the deck and a summary after the call.",
        "Let's book a follow-up for next Tuesday.",
        "Can you send me the security documentation?",
        "I will loop in our solutions engineer for the next meeting.",
        "Let me talk to my team and get back to you by Friday.",
        "We'll set up a technical deep dive with your architects.",
        "Please send the contract over and I'll review it this week.",
        "I'll share the pilot plan tomorrow morning.",
        "Let's get a demo on the calendar with your director.",
        "Reach back out to me after the holidays.",
        "I'll put together the business case with your numbers.",
    ),
    "authority": (
        "The final decision sits with our CFO.",
        "I need to run this by my boss before we commit.",
        "Anything over fifty thousand goes to the board for approval.",
        "I own the budget for this so it's my call.",
        "Procurement has to approve every new vendor.",
        "Our CEO will want to weigh in on this.",
        "The committee meets monthly to approve purchases.",
        "I'm not the decision maker, that's our VP.",
        "I can sign off on anything under a certain amount.",
        "Legal and security both need to bless the contract.",
    ),
    "budget": (
        "We have around eighty thousand dollars set aside for this.",
        "Our budget for the year is roughly fifty k.",
        "We can spend up to twenty thousand a year on it.",
        "The grant gives us about a hundred thousand to work with.",
        "There is money left in this year's budget line.",
        "Budget has been approved for a project like this.",
    ),
    "none": (
        "Thanks for taking the time to meet today.",
        "Can you hear me okay?",
        "Let me share my screen.",
        "How was your weekend?",
        "Sure, that makes sense.",
        "Okay, got it.",
        "We are a team of about forty people.",
        "I joined the company about two years ago.",
        "Our headquarters are in Denver.",
        "Let me show you the dashboard.",
        "Here you can see the settings page.",
        "Our platform connects to all the major tools.",
        "We work with a lot of companies in your space.",
        "Great question.",
        "Right, exactly.",
        "That's a fair question, let me explain how it works.",
        "We have about ninety trucks across three depots.",
        "Most of our customers are mid-sized companies.",
        "I'm responsible for operations in the northern region.",
        "Sorry, I was on mute.",
        "Good morning, nice to meet you.",
        "It runs in the cloud and updates every night.",
        "What does your current process look like?",
        "How many people are on your team?",
        "Understood.",
        "Yes.",
    ),
}


class ExemplarClassifier:
    """Scores sentences per category by cosine similarity to exemplar sentences.

    A category's score is how far the mean of its `top_k` nearest exemplars beats the neutral
    exemplars' (and `floor`), scaled so `margin` above is 1.0.

    Args:
        embedder: Anything with `embed(texts) -> ndarray` of L2-normalised rows.
        exemplars: Category → example sentences; must include "none".
        top_k: How many nearest exemplars of a category are averaged.
        floor: The least similarity that can count, however far the neutral exemplars are.
        margin: Similarity above the baseline that scores 1.0.
        min_words: Shorter sentences ("Okay.", "Sure, yes.") are not embedded; they score 0.
    """

    def __init__(
        self,
        embedder: Any,
        *,
        exemplars: Mapping[str, Sequence[str]] = EXEMPLARS,
        top_k: int = 2,
        floor: float = 0.35,
        margin: float = 0.1,
        min_words: int = 4,
    ) -> None:
        self.embedder = embedder
        self.categories = [c for c in exemplars if c != "none"]
        self.top_k, self.floor, self.margin, self.min_words = top_k, floor, margin, min_words
        self._vectors = {c: np.asarray(embedder.embed(list(s))) for c, s in exemplars.items()}

    @classmethod
    def default(cls) -> ExemplarClassifier:
        """The classifier on the offline MiniLM embedder (raises if it is not installed)."""
        from gtmflow.tools.embeddings import MiniLMEmbedding

        return cls(MiniLMEmbedding())

    def scores(self, texts: Sequence[str]) -> list[dict[str, float]]:
        """One `{category: score in [0, 1]}` per text."""
        if not texts:
            return []
        vectors = np.asarray(self.embedder.embed(list(texts)))
        near = {c: self._nearest(vectors, m) for c, m in self._vectors.items()}
        baseline = np.maximum(near["none"], self.floor)
        return [
            {
                c: float(np.clip((near[c][i] - baseline[i]) / self.margin, 0, 1))
                for c in self.categories
            }
            for i in range(len(texts))
        ]

    def _nearest(self, vectors: Any, exemplars: Any) -> Any:
        sims = vectors @ exemplars.T
        k = min(self.top_k, sims.shape[1])
        return np.sort(sims, axis=1)[:, -k:].mean(axis=1)
