"""The pipeline scorer: which content and channels drove pipeline and revenue, and what next.

`PipelineScorer.report(data)` runs the chosen attribution models on journeys for pipeline
created and revenue won, at the channel and the content level, and returns a
`PipelineReport`:

- the top keys of each (outcome, level) by consensus: the mean of each model's rank by
  attributed value (ties broken by mean value, then key), with every model's figures;
- how much the models agree: Kendall's tau-b between every pair of models' value rankings, and
  the overlap of their top-k lists (|A and B| / k);
- N content briefs "along the same lines" as the content that worked, each citing the content
  ids and the figures it rests on (`gtmflow.agents.content_briefs`): the candidates are the
  content items (never `(channel)` keys) by consensus on pipeline, with the deals and contacts
  they touched. Through the optional retrieval hook (the context store), a brief is built from
  the candidate's real title, topics and chunks and the pains those contacts raised: a working
  title, the angle, an outline of 4-6 sections each citing its source, and what not to repeat.
  A candidate whose title is known neither from the events nor from the library is skipped.

Briefs come from the brain (`gtmflow.brains`): `brain="rules"` (the offline default) or an LLM;
`report.run` records which backend answered, with the prompt version, tokens and any fallback.
Names re-exported here from `content_briefs` keep one import for users.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from gtmflow.agents.content_briefs import (
    BriefCandidate,
    BriefDraft,
    BriefDrafts,
    Citation,
    ContentBrief,
    OutlineSection,
    Passage,
    Retriever,
    context_retriever,
    gather_evidence,
    write_briefs,
)
from gtmflow.brains import Brain, BrainRun, resolve_brain
from gtmflow.errors import ConfigError
from gtmflow.models import Deal
from gtmflow.tools.attribution.heuristics import Attribution, ModelName, attribute
from gtmflow.tools.attribution.journeys import Journeys
from gtmflow.tools.attribution.touchpoints import Level, Outcome, TouchData, build_journeys

__all__ = [
    "DEFAULT_MODELS",
    "BriefDraft",
    "BriefDrafts",
    "Citation",
    "ContentBrief",
    "ModelAgreement",
    "OutlineSection",
    "Passage",
    "PipelineData",
    "PipelineReport",
    "PipelineScorer",
    "RankedKey",
    "Retriever",
    "Section",
    "context_retriever",
    "kendall_tau",
    "pipeline_data",
]

DEFAULT_MODELS: tuple[ModelName, ...] = (
    "first",
    "last",
    "linear",
    "time_decay",
    "position",
    "w_shaped",
    "markov",
    "shapley",
)


# --------------------------------------------------------------------------- output


class RankedKey(BaseModel):
    """A channel or content item ranked by consensus across models."""

    model_config = ConfigDict(frozen=True)

    key: str
    title: str | None = None
    consensus_rank: float = Field(description="Mean of the models' ranks (1 = most value).")
    value: float = Field(description="Mean attributed value across models.")
    conversions: float = Field(description="Mean attributed conversions across models.")
    by_model: dict[str, float] = Field(description="Attributed value per model.")
    ranks: dict[str, int] = Field(description="Rank per model.")


class ModelAgreement(BaseModel):
    """How two models' rankings agree."""

    model_config = ConfigDict(frozen=True)

    a: str
    b: str
    kendall_tau: float = Field(description="Kendall's tau-b of the value rankings (-1..1).")
    top_k_overlap: float = Field(description="Share of the top-k keys the two lists share.")


class Section(BaseModel):
    """One outcome at one level: every model's credits, the consensus top, agreement."""

    model_config = ConfigDict(frozen=True)

    outcome: Outcome
    level: Level
    total_conversions: float
    total_value: float
    unattributed_conversions: float = 0.0
    attributions: tuple[Attribution, ...]
    top: tuple[RankedKey, ...]
    agreement: tuple[ModelAgreement, ...]
    mean_tau: float | None = Field(description="Mean pairwise Kendall tau; None with 1 model.")


class PipelineReport(BaseModel):
    """What drove pipeline and revenue, how sure the models are, and what to write next."""

    model_config = ConfigDict(frozen=True)

    as_of: datetime | None
    models: tuple[str, ...]
    top_k: int
    sections: tuple[Section, ...]
    briefs: tuple[ContentBrief, ...]
    run: BrainRun

    def section(self, outcome: Outcome, level: Level) -> Section:
        """The section of one outcome and level."""
        for section in self.sections:
            if section.outcome == outcome and section.level == level:
                return section
        raise ConfigError(f"the report has no '{outcome}' section at level '{level}'")


# --------------------------------------------------------------------------- input


@dataclass(frozen=True)
class PipelineData:
    """What the scorer reads: journeys per (outcome, level), content titles, deal contacts."""

    journeys: Mapping[tuple[Outcome, Level], Journeys]
    titles: Mapping[str, str] = field(default_factory=dict)
    deal_contacts: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    as_of: datetime | None = None


def pipeline_data(
    touches: TouchData,
    deals: Sequence[Deal],
    *,
    lookback: str = "90d",
    as_of: datetime | None = None,
    levels: Sequence[Level] = ("channel", "content"),
    outcomes: Sequence[Outcome] = ("pipeline", "revenue"),
    currency: str | None = None,
) -> PipelineData:
    """Journeys for every (outcome, level) from touches and deals."""
    journeys = {
        (outcome, level): build_journeys(
            touches,
            deals,
            outcome=outcome,
            level=level,
            lookback=lookback,
            as_of=as_of,
            currency=currency,
        )
        for outcome in outcomes
        for level in levels
    }
    return PipelineData(
        journeys=journeys,
        titles=dict(touches.titles),
        deal_contacts={d.id: d.contact_ids for d in deals},
        as_of=as_of or touches.latest,
    )


# --------------------------------------------------------------------------- agent


class PipelineScorer:
    """Scores content and channels by attributed pipeline and writes briefs for more like it.

    Args:
        models: Attribution models to run and compare.
        order: Markov (and Markov-Shapley) chain order.
        top_k: Keys per ranking, and the k of the top-k overlap.
        briefs: How many content briefs to write.
        brain: `"rules"`, a `"provider:model"` string, a chat model or a `Brain`.
        retrieve: Optional retrieval hook for themes and pains (see `context_retriever`).
        root: Workspace folder whose `gtmflow.toml` may configure the brain.
    """

    def __init__(
        self,
        *,
        models: Sequence[ModelName] = DEFAULT_MODELS,
        order: int = 1,
        top_k: int = 5,
        briefs: int = 3,
        brain: Any = None,
        retrieve: Retriever | None = None,
        root: Path | None = None,
    ) -> None:
        if not models:
            raise ConfigError("PipelineScorer needs at least one model")
        if top_k < 1 or briefs < 0:
            raise ConfigError(f"top_k must be >= 1 and briefs >= 0, got {top_k} and {briefs}")
        self.models, self.order, self.top_k, self.briefs = tuple(models), order, top_k, briefs
        self.brain: Brain = resolve_brain(brain, agent="pipeline_scorer", root=root)
        self.retrieve = retrieve

    def report(self, data: PipelineData) -> PipelineReport:
        """Attribute, rank, compare and write briefs."""
        sections = tuple(self._section(o, lv, j, data) for (o, lv), j in data.journeys.items())
        candidates = self._candidates(sections, data)
        evidence = gather_evidence(candidates, self.retrieve, enough=self.briefs)
        briefs, run = write_briefs(self.brain, candidates, evidence, self.briefs)
        return PipelineReport(
            as_of=data.as_of,
            models=self.models,
            top_k=self.top_k,
            sections=sections,
            briefs=briefs,
            run=run,
        )

    # ------------------------------------------------------------------ sections

    def _section(
        self, outcome: Outcome, level: Level, journeys: Journeys, data: PipelineData
    ) -> Section:
        results = tuple(
            attribute(journeys, model=m, order=self.order)
            if m in ("markov", "shapley")
            else attribute(journeys, model=m)
            for m in self.models
        )
        keys = sorted(journeys.keys)
        values = np.array([[r.by_key()[k].value for k in keys] for r in results]).reshape(
            len(results), len(keys)
        )
        conversions = np.array([[r.by_key()[k].conversions for k in keys] for r in results])
        ranked = _ranked(
            keys,
            values,
            conversions.reshape(values.shape),
            _ranks(values),
            self.models,
            data.titles,
        )
        top = tuple(ranked[: self.top_k])
        agreement = _agreement(self.models, keys, values, self.top_k)
        taus = [a.kendall_tau for a in agreement]
        return Section(
            outcome=outcome,
            level=level,
            total_conversions=journeys.total_conversions,
            total_value=journeys.total_value,
            unattributed_conversions=journeys.unattributed_conversions,
            attributions=results,
            top=top,
            agreement=agreement,
            mean_tau=float(np.mean(taus)) if taus else None,
        )

    # ------------------------------------------------------------------ briefs

    def _candidates(self, sections: Sequence[Section], data: PipelineData) -> list[BriefCandidate]:
        pipeline = next(
            (s for s in sections if s.outcome == "pipeline" and s.level == "content"), None
        )
        if pipeline is None:
            return []
        revenue = next(
            (s for s in sections if s.outcome == "revenue" and s.level == "content"), None
        )
        journeys = data.journeys[("pipeline", "content")]
        chosen = []
        for ranked in _full_ranking(pipeline, self.models):
            if ranked.key.startswith("("):  # a channel without content, not a content item
                continue
            deals, contacts = _touched(journeys, ranked.key, data.deal_contacts)
            top_in = sum(
                ranked.key in {c.key for c in a.top(self.top_k)} for a in pipeline.attributions
            )
            citation = Citation(
                content_id=ranked.key,
                title=data.titles.get(ranked.key),
                consensus_rank=ranked.consensus_rank,
                pipeline=ranked.value,
                revenue=_mean_value(revenue, ranked.key),
                deals=deals,
                top_in=top_in,
            )
            chosen.append(BriefCandidate(citation, contacts))
        return chosen  # best first; evidence is read only until enough have a known title


# --------------------------------------------------------------------------- internals


def _ranks(values: np.ndarray) -> np.ndarray:
    """Per model (row), the 1-based rank of each key by value (ties share the best rank)."""
    ranks = np.zeros(values.shape, dtype=int)
    for row, vals in enumerate(values):
        rounded = np.round(vals, 9)
        ranks[row] = [1 + int((rounded > v).sum()) for v in rounded]
    return ranks


def _ranked(
    keys: list[str],
    values: np.ndarray,
    conversions: np.ndarray,
    ranks: np.ndarray,
    models: Sequence[str],
    titles: Mapping[str, str],
) -> list[RankedKey]:
    rows = [
        RankedKey(
            key=key,
            title=titles.get(key),
            consensus_rank=float(ranks[:, i].mean()),
            value=float(values[:, i].mean()),
            conversions=float(conversions[:, i].mean()),
            by_model={m: float(values[j, i]) for j, m in enumerate(models)},
            ranks={m: int(ranks[j, i]) for j, m in enumerate(models)},
        )
        for i, key in enumerate(keys)
    ]
    return sorted(rows, key=lambda r: (r.consensus_rank, -r.value, r.key))


def _full_ranking(section: Section, models: Sequence[str]) -> list[RankedKey]:
    keys = sorted(section.attributions[0].by_key())
    values = np.array([[a.by_key()[k].value for k in keys] for a in section.attributions])
    conversions = np.array(
        [[a.by_key()[k].conversions for k in keys] for a in section.attributions]
    )
    return _ranked(keys, values, conversions, _ranks(values), models, {})


def _agreement(
    models: Sequence[str], keys: list[str], values: np.ndarray, k: int
) -> tuple[ModelAgreement, ...]:
    rows = []
    for i in range(len(models)):
        for j in range(i + 1, len(models)):
            top_i = {keys[x] for x in np.argsort(-values[i], kind="stable")[:k]}
            top_j = {keys[x] for x in np.argsort(-values[j], kind="stable")[:k]}
            overlap = len(top_i & top_j) / max(min(k, len(keys)), 1)
            rows.append(
                ModelAgreement(
                    a=models[i],
                    b=models[j],
                    kendall_tau=kendall_tau(values[i], values[j]),
                    top_k_overlap=overlap,
                )
            )
    return tuple(rows)


def kendall_tau(x: np.ndarray, y: np.ndarray) -> float:
    """Kendall's tau-b of two score vectors (ties handled; 0 when either is constant).

    Example:
        >>> kendall_tau(np.array([1.0, 2, 3]), np.array([1.0, 3, 2]))
        0.333...
    """
    dx = np.sign(x[:, None] - x[None, :])
    dy = np.sign(y[:, None] - y[None, :])
    upper = np.triu_indices(len(x), 1)
    sx, sy = dx[upper], dy[upper]
    denominator = np.sqrt((sx != 0).sum() * (sy != 0).sum())
    return float((sx * sy).sum() / denominator) if denominator else 0.0


def _touched(
    journeys: Journeys, key: str, contacts_of: Mapping[str, tuple[str, ...]]
) -> tuple[int, tuple[str, ...]]:
    code = journeys.keys.index(key)
    paths = np.unique(journeys.owner[journeys.steps == code])
    converting = [int(p) for p in paths if journeys.conversions[p] > 0]
    ids = journeys.ids or ()
    contacts = sorted({c for p in converting if p < len(ids) for c in contacts_of.get(ids[p], ())})
    return len(converting), tuple(contacts)


def _mean_value(section: Section | None, key: str) -> float:
    if section is None:
        return 0.0
    values = [a.by_key()[key].value for a in section.attributions if key in a.by_key()]
    return float(np.mean(values)) if values else 0.0
