"""Social variants of a blog post: per-platform limits, hashtags and tone, every fact quoted.

The rules backend uses the post's own sentences, read as plain text (markdown headings, emphasis,
link syntax and list markers removed), ranked by what makes a hook (numbers, the title's key
words). Each of the N variants of a platform gets its own hook and angle (a number, the problem,
the outcome, a quote, how it works) and its own share of the remaining sentences, so no two
variants share more than half their sentences; layouts come from `prompts/social_post_rules.md`.
The LLM backend must quote the post for each factual sentence. Both are checked the same way:
length within the platform's limit, hashtag count within its range, plain text (no markdown
headings), N distinct variants per platform, quotes found in the post.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from gtmflow.agents._claims import Claim, is_factual, split_text
from gtmflow.agents._extractors import split_sentences
from gtmflow.agents._lexicons import INJECTION
from gtmflow.agents.insights import normalise
from gtmflow.brains import Brain, BrainRun
from gtmflow.errors import ConfigError
from gtmflow.models import ContentItem
from gtmflow.prompts import RenderedPrompt, load_prompt

if TYPE_CHECKING:
    from gtmflow.agents.content_writer import Draft

__all__ = [
    "PLATFORMS",
    "Platform",
    "SocialWriter",
    "markdown_problems",
    "platforms_named",
    "shared_sentences",
]

_STOP_WORDS = (
    "a an and are as at be but by for from has have how in is it its of on or our so that the "
    "their this to was we what when where which who why will with you your"
)
_STOP = frozenset(_STOP_WORDS.split(" "))


@dataclass(frozen=True)
class Platform:
    """A platform's constraints: character limit, hashtag range, layout and tone."""

    name: str
    max_chars: int
    hashtags: tuple[int, int]
    layout: str
    tone: str


PLATFORMS: dict[str, Platform] = {
    p.name: p
    for p in (
        Platform("linkedin", 3000, (3, 5), "long", "professional, first person plural"),
        Platform("x", 280, (1, 2), "short", "punchy, one idea"),
        Platform("bluesky", 300, (0, 2), "short", "conversational"),
        Platform("threads", 500, (0, 3), "short", "conversational"),
        Platform("mastodon", 500, (1, 4), "short", "plain, no hype"),
        Platform("facebook", 2000, (0, 3), "long", "friendly"),
        Platform("instagram", 2200, (3, 10), "long", "visual, upbeat"),
    )
}


class _Variant(BaseModel):
    platform: str
    angle: str = Field(default="", description="What it leads with: number, problem, outcome, ...")
    text: str = Field(description="The post text, plain (no markdown), without hashtags.")
    hashtags: list[str] = Field(default_factory=list, description="Without the # sign.")
    quotes: list[str] = Field(
        default_factory=list, description="Verbatim quotes from the post behind its facts."
    )


class SocialDraft(BaseModel):
    """What the LLM fills: the variants for every requested platform."""

    variants: list[_Variant] = Field(min_length=1)


class SocialWriter:
    """Writes social variants through a brain; used by `ContentWriter.repurpose`."""

    def __init__(self, brain: Brain) -> None:
        self.brain = brain

    def write(
        self, post: ContentItem, platforms: Sequence[str], *, variants: int = 1
    ) -> tuple[list[Draft], BrainRun]:
        """Drafts for each platform and the record of how they were made."""
        chosen = _platforms(platforms)
        if variants < 1:
            raise ConfigError(f"variants={variants} must be at least 1")
        prompt = self.prompt(post, chosen, variants=variants)
        outcome = self.brain.run(
            SocialDraft,
            prompt,
            rules=lambda: _rules_variants(post, chosen, variants),
            check=lambda draft: _problems(draft, chosen, variants, post),
        )
        return [_draft(v, post) for v in outcome.output.variants], outcome.run

    def prompt(self, post: ContentItem, chosen: list[Platform], *, variants: int) -> RenderedPrompt:
        """The rendered prompt for these platforms."""
        spec = "; ".join(
            f"{p.name}: at most {p.max_chars} characters including hashtags and link, "
            f"{p.hashtags[0]}-{p.hashtags[1]} hashtags, tone {p.tone}"
            for p in chosen
        )
        return load_prompt("social_post").render(
            post=_post_text(post), platforms=spec, variants=str(variants)
        )


def platforms_named(names: Sequence[str]) -> list[Platform]:
    """The platforms named (case-insensitive); a `ConfigError` lists the known ones."""
    return _platforms(names)


def _platforms(names: Sequence[str]) -> list[Platform]:
    unknown = [n for n in names if n.lower() not in PLATFORMS]
    if unknown or not names:
        raise ConfigError(
            f"unknown platform(s) {unknown or '(none given)'}; choose from "
            f"{', '.join(PLATFORMS)}, e.g. --platforms linkedin,x"
        )
    return [PLATFORMS[n.lower()] for n in dict.fromkeys(names)]


def _problems(
    draft: SocialDraft, chosen: list[Platform], variants: int, post: ContentItem
) -> str | None:
    """Why an LLM draft breaks a platform's rules (None when it fits)."""
    problems = []
    counts = Counter(v.platform.lower() for v in draft.variants)
    for platform in chosen:
        if counts[platform.name] < variants:
            problems.append(f"{platform.name}: {counts[platform.name]} variant(s), need {variants}")
    for number, v in enumerate(draft.variants, 1):
        found = PLATFORMS.get(v.platform.lower())
        if found is None:
            problems.append(f"variant {number}: platform '{v.platform}' was not requested")
            continue
        length = len(_compose(v.text, v.hashtags))
        if length > found.max_chars:
            problems.append(
                f"variant {number} ({found.name}) is {length} characters; "
                f"the limit is {found.max_chars}"
            )
        low, high = found.hashtags
        if not low <= len(v.hashtags) <= high:
            problems.append(
                f"variant {number} ({found.name}) has {len(v.hashtags)} hashtags; use {low}-{high}"
            )
        problems += [f"variant {number} ({found.name}) has {p}; write plain text"
                     for p in markdown_problems(v.text)]  # fmt: skip
    return "; ".join([*problems, *_alike(draft, post)]) or None


def _alike(draft: SocialDraft, post: ContentItem) -> list[str]:
    """Variants of one platform that share their hook or more than half their sentences."""
    problems = []
    for first, a in enumerate(draft.variants, 1):
        for second, b in enumerate(draft.variants[first:], first + 1):
            if a.platform.lower() != b.platform.lower():
                continue
            share = shared_sentences(a.text, b.text, ignore=[post.title])
            if share > 0.5 or split_text(a.text)[:1] == split_text(b.text)[:1]:
                problems.append(
                    f"variants {first} and {second} ({a.platform}) are too alike ({share:.0%} of "
                    "their sentences shared): give each its own hook, angle and sentences"
                )
    return problems


def _draft(variant: _Variant, post: ContentItem) -> Draft:
    from gtmflow.agents.content_writer import Draft

    source = normalise(f"{post.title} {post.body} {_plain_markdown(post.body)}")
    quotes = [
        q for q in variant.quotes if normalise(q).strip(" .") and normalise(q).strip(" .") in source
    ]
    claims = []
    for sentence in split_text(variant.text):
        factual = is_factual(sentence) and normalise(sentence).strip(" .") not in source
        support = next((q for q in quotes if _overlap(sentence, q) >= 0.5), None)
        in_post = normalise(sentence).strip(" .") in source
        claims.append(
            Claim(
                sentence=sentence,
                source="content" if (support or in_post) else "none",
                ref=post.id if (support or in_post) else None,
                supported=bool(support or in_post or not factual),
                factual=factual or in_post,
            )
        )
    bad = {c.sentence for c in claims if not c.supported}
    text = " ".join(c.sentence for c in claims if c.sentence not in bad) if bad else variant.text
    tags = tuple(dict.fromkeys(t.lstrip("#") for t in variant.hashtags if t.strip("#")))
    return Draft(
        kind="social",
        platform=variant.platform.lower(),
        body=_compose(text, tags),
        hashtags=tags,
        claims=tuple(claims),
        removed=tuple(sorted(bad)),
        recommended=(post.id,),
        angle=variant.angle if variant.angle in _ANGLE_NAMES else None,
    )


_ANGLE_NAMES = ("number", "problem", "outcome", "quote", "how", "why", "detail", "in_short",
                "takeaway")  # fmt: skip


def _rules_variants(post: ContentItem, chosen: list[Platform], variants: int) -> SocialDraft:
    sentences = _key_sentences(post)
    if variants > max(len(sentences), 1):
        raise ConfigError(
            f"post '{post.id}' has {len(sentences)} sentence(s) that can open a post, so it "
            f"cannot give {variants} distinct variants; ask for at most {max(len(sentences), 1)} "
            "(--variants), or use an LLM brain"
        )
    tags = _hashtags(post)
    plans = _plans(sentences, variants) if sentences else [("outcome", post.title, [])]
    out = []
    for platform in chosen:
        hashtags = tags[: platform.hashtags[1]] if len(tags) >= platform.hashtags[0] else tags
        for angle, hook, points in plans:
            kept = points[: 3 if platform.layout == "long" else 0]
            text = _layout(platform, post, angle, hook, kept, hashtags)
            out.append(
                _Variant(
                    platform=platform.name,
                    angle=angle,
                    text=text,
                    hashtags=hashtags,
                    quotes=[hook, *kept],
                )
            )
    return SocialDraft(variants=out)


def _plans(sentences: list[str], variants: int) -> list[tuple[str, str, list[str]]]:
    """Per variant: an angle, its own hook, and its own share of the other sentences.

    Hooks are the best-ranked sentences, each variant preferring an angle no other took; the
    rest are dealt round-robin, so two variants never share a sentence (the title aside).
    """
    remaining = list(sentences)
    hooks: list[tuple[str, str]] = []
    for _ in range(variants):
        taken = {angle for angle, _ in hooks}
        natural = next((s for s in remaining if _angle_of(s) not in taken | {None}), None)
        pick = natural or remaining[0]
        free = [a for a in _ANY_SENTENCE if a not in taken]
        angle = _angle_of(pick) if natural else (free[0] if free else _angle_of(pick) or "why")
        remaining.remove(pick)
        hooks.append((angle or "why", pick))
    shares: list[list[str]] = [[] for _ in hooks]
    for index, sentence in enumerate(remaining):
        shares[index % len(hooks)].append(sentence)
    return [(angle, hook, share) for (angle, hook), share in zip(hooks, shares, strict=True)]


def _angle_of(sentence: str) -> str | None:
    """What a sentence naturally leads with (a quote, the problem, a number, the outcome, how it
    works), or None when it fits only a general lead."""
    return next((angle for angle, pattern in _ANGLES if pattern.search(sentence)), None)


_PROBLEM = (
    r"\b(?:used to|bottleneck|problem|manual|by hand|spreadsheets?|slow|late|wasted?|lost|chas\w+|"
    r"worr\w+|struggl\w+)\b"
)
_ANGLES = (
    ("quote", re.compile(r"\b(?:says|said|told us|puts it)\b|[\"\u201c]", re.I)),
    ("problem", re.compile(_PROBLEM, re.I)),
    ("number", re.compile(r"\d")),
    (
        "outcome",
        re.compile(r"\b(?:now|after|cut|faster|fell|rose|saves?|halved?|doubled?)\b", re.I),
    ),
    ("how", re.compile(r"\b(?:by|with|through|automat\w*|instead of|step)\b", re.I)),
)
_ANY_SENTENCE = ("why", "detail", "in_short", "takeaway")
"""Leads that suit any sentence, for variants once the natural angles are taken."""


def _layout(
    platform: Platform,
    post: ContentItem,
    angle: str,
    hook: str,
    points: list[str],
    tags: list[str],
) -> str:
    """Fill the template; drop points, then shorten the hook, until it fits the limit."""
    sections = load_prompt("social_post_rules").sections
    template = sections[platform.layout]
    lead = sections[f"lead_{angle}"].strip()
    while True:
        text = template.replace("{{title}}", post.title).replace("{{hook}}", hook)
        text = text.replace("{{lead}}", lead).replace("{{points}}", "\n\n".join(points))
        text = re.sub(r"\n{3,}", "\n\n", text.replace("{{link}}", post.url or "")).strip()
        if len(_compose(text, tags)) <= platform.max_chars:
            return text
        if points:
            points = points[:-1]
            continue
        room = platform.max_chars - (len(_compose(text, tags)) - len(hook)) - 1
        if room < 20:
            return text[: platform.max_chars]
        hook = hook[:room].rsplit(" ", 1)[0] + "…"


def _key_sentences(post: ContentItem) -> list[str]:
    """The post's sentences that can stand alone in a post, best hooks first."""
    body = _plain_markdown(post.body)
    sentences = [
        s.text
        for s in split_sentences(0, body)
        if 30 <= len(s.text) <= 240 and not INJECTION.search(s.text) and "http" not in s.text
    ]
    keys = _keywords(post.title)
    ranked = sorted(
        enumerate(dict.fromkeys(sentences)),
        key=lambda pair: (
            -(bool(re.search(r"\d", pair[1])) + len(keys & _keywords(pair[1]))),
            pair[0],
        ),
    )
    return [s for _, s in ranked[:12]]


def _plain_markdown(text: str) -> str:
    """Markdown as plain sentences: headings, emphasis, link syntax and list markers gone."""
    lines = []
    for line in text.splitlines():
        if re.match(r"^\s*(?:#{1,6}\s|```|>|\|)", line):
            continue  # headings, code fences, quotes and tables are not sentences of the post
        line = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", line)
        line = re.sub(r"^\s*(?:[-*+]|\d+[.)])\s+", "", line)
        lines.append(re.sub(r"[*_`]{1,3}", "", line))
    return " ".join(" ".join(lines).split())


def markdown_problems(text: str) -> list[str]:
    """Why a post's text is not plain: markdown headings, emphasis or list markers."""
    problems = []
    if re.search(r"(?m)^\s*#{1,6}\s", text):
        problems.append("a markdown heading")
    if re.search(r"\*\*|__|^\s*[-*+]\s", text, re.MULTILINE):
        problems.append("markdown emphasis or list markers")
    return problems


def shared_sentences(a: str, b: str, *, ignore: Sequence[str] = ()) -> float:
    """The share of the shorter post's sentences that the other one also has."""
    skip = {normalise(i) for i in ignore if i}
    first = {normalise(x) for x in split_text(a)} - skip
    second = {normalise(x) for x in split_text(b)} - skip
    first = {x for x in first if not x.startswith(("http", "#"))}
    second = {x for x in second if not x.startswith(("http", "#"))}
    return len(first & second) / min(len(first), len(second)) if first and second else 0.0


def _hashtags(post: ContentItem) -> list[str]:
    words = [*post.topics, *sorted(_keywords(post.title), key=post.title.lower().find)]
    tags = ["".join(part.capitalize() for part in re.split(r"[\s_-]+", w) if part) for w in words]
    return list(dict.fromkeys(t for t in tags if t.isalnum()))[:10]


def _keywords(text: str) -> set[str]:
    return {
        w for w in re.findall(r"[a-z][a-z0-9-]+", text.lower()) if w not in _STOP and len(w) > 3
    }


def _overlap(sentence: str, quote: str) -> float:
    words = _keywords(sentence)
    return len(words & _keywords(quote)) / len(words) if words else 1.0


def _compose(text: str, tags: Sequence[str]) -> str:
    suffix = " ".join(f"#{t.lstrip('#')}" for t in tags)
    return f"{text.strip()}\n\n{suffix}" if suffix else text.strip()


def _post_text(post: ContentItem) -> str:
    topics = ", ".join(post.topics)
    return f"title: {post.title}\nurl: {post.url or 'none'}\ntopics: {topics}\n\n{post.body}"
