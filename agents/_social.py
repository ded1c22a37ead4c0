"""Social variants of a blog post: per-platform limits, hashtags and tone, every fact quoted.

The rules backend uses the post's own sentences (the title, the lead and the sentences that
carry numbers or the title's key words) laid out per platform by `prompts/social_post_rules.md`;
the LLM backend must quote the post for each factual sentence. Both are checked the same way:
length within the platform's limit, hashtag count within its range, quotes found in the post.
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

__all__ = ["PLATFORMS", "Platform", "SocialWriter", "platforms_named"]

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
    text: str = Field(description="The post text, without hashtags.")
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
    return "; ".join(problems) or None


def _draft(variant: _Variant, post: ContentItem) -> Draft:
    from gtmflow.agents.content_writer import Draft

    source = normalise(f"{post.title} {post.body}")
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
    )


def _rules_variants(post: ContentItem, chosen: list[Platform], variants: int) -> SocialDraft:
    sentences = _key_sentences(post)
    tags = _hashtags(post)
    out = []
    for platform in chosen:
        for n in range(variants):
            hook = sentences[n % len(sentences)] if sentences else post.title
            points = [s for s in sentences if s != hook][: 3 if platform.layout == "long" else 0]
            hashtags = tags[: platform.hashtags[1]] if len(tags) >= platform.hashtags[0] else tags
            text = _layout(platform, post, hook, points, hashtags)
            out.append(
                _Variant(
                    platform=platform.name, text=text, hashtags=hashtags, quotes=[hook, *points]
                )
            )
    return SocialDraft(variants=out)


def _layout(
    platform: Platform, post: ContentItem, hook: str, points: list[str], tags: list[str]
) -> str:
    """Fill the template; drop points, then shorten the hook, until it fits the limit."""
    template = load_prompt("social_post_rules").sections[platform.layout]
    while True:
        text = template.replace("{{title}}", post.title).replace("{{hook}}", hook)
        text = text.replace("{{points}}", "\n".join(f"- {p}" for p in points))
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
    sentences = [
        s.text
        for s in split_sentences(0, post.body.replace("\n", " "))
        if 30 <= len(s.text) <= 240 and not INJECTION.search(s.text)
    ]
    keys = _keywords(post.title)
    ranked = sorted(
        enumerate(sentences),
        key=lambda pair: (
            -(bool(re.search(r"\d", pair[1])) + len(keys & _keywords(pair[1]))),
            pair[0],
        ),
    )
    return [s for _, s in ranked[:6]]


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
