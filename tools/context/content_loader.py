"""Reading a content library from a folder: markdown, HTML and text, with front matter.

Each file becomes one `ContentItem`. Metadata comes from front matter at the top of the file,
YAML between `---` lines or TOML between `+++` lines:

```markdown
---
id: pricing-guide            # default: the file's path under the folder, without suffix
title: How seat pricing works  # default: the first '# heading', the HTML <title>, the file name
url: https://example.com/blog/pricing
type: blog_post              # blog_post, case_study, doc, ebook, webinar, ...
topics: [pricing, roi]       # also 'tags', or a comma-separated string
published: 2025-03-01        # also 'date' or 'published_at'; a date means midnight UTC
---
```

HTML files may carry the same keys as `<meta name="..." content="...">` (`gtmflow:` prefixes
allowed) and are reduced to text with headings kept as markdown `#` lines, so chunking still
follows their sections. A file that cannot be read is reported, never fatal.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]
from pydantic import ValidationError

from gtmflow.errors import ConfigError
from gtmflow.models import ContentItem

__all__ = ["CONTENT_SUFFIXES", "ContentLoad", "load_content_dir", "load_content_file"]

CONTENT_SUFFIXES = (".md", ".markdown", ".html", ".htm", ".txt")
_FRONT_MATTER = re.compile(r"\A\ufeff?(---|\+\+\+)[ \t]*\n(.*?)\n\1[ \t]*(?:\n|\Z)", re.DOTALL)
_ALIASES = {
    "tags": "topics",
    "keywords": "topics",
    "date": "published_at",
    "published": "published_at",
    "kind": "type",
}


@dataclass
class ContentLoad:
    """What a folder held: the items read, and each file skipped with the reason."""

    items: list[ContentItem] = field(default_factory=list)
    rejected: list[tuple[Path, str]] = field(default_factory=list)


def load_content_dir(folder: str | Path) -> ContentLoad:
    """Read every markdown, HTML and text file under `folder` (recursively, sorted by path).

    Hidden files and folders are skipped. Two files claiming one id are both refused after
    the first, so one never silently replaces another.
    """
    root = Path(folder)
    if not root.is_dir():
        raise ConfigError(f"content folder '{root}' does not exist or is not a folder")
    load = ContentLoad()
    seen: dict[str, Path] = {}
    for path in _content_files(root):
        try:
            item = load_content_file(path, default_id=_default_id(path, root))
        except ValueError as exc:
            load.rejected.append((path, str(exc)))
            continue
        if item.id in seen:
            load.rejected.append((path, f"id '{item.id}' is already used by '{seen[item.id]}'"))
            continue
        seen[item.id] = path
        load.items.append(item)
    return load


def load_content_file(path: str | Path, *, default_id: str | None = None) -> ContentItem:
    """Read one file as a `ContentItem`; raises `ValueError` saying what is wrong."""
    source = Path(path)
    try:
        raw = source.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read '{source}': {exc}") from None
    meta, body = _split_front_matter(raw, source)
    if source.suffix.lower() in (".html", ".htm"):
        page = _HtmlText.parse(body)
        meta = {**page.meta, **meta}
        body, fallback_title = page.text, page.title
    else:
        fallback_title = _first_heading(body)
    fields = _content_fields(meta)
    fields.setdefault("id", default_id or source.stem)
    fields.setdefault("title", fallback_title or source.stem.replace("-", " ").replace("_", " "))
    try:
        return ContentItem.model_validate({**fields, "body": body.strip()})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ValueError(f"'{source}': {problems}") from None


def _content_files(root: Path) -> Iterator[Path]:
    for path in sorted(root.rglob("*")):
        hidden = any(part.startswith(".") for part in path.relative_to(root).parts)
        if path.is_file() and not hidden and path.suffix.lower() in CONTENT_SUFFIXES:
            yield path


def _default_id(path: Path, root: Path) -> str:
    return path.relative_to(root).with_suffix("").as_posix()


def _split_front_matter(raw: str, source: Path) -> tuple[dict[str, Any], str]:
    match = _FRONT_MATTER.match(raw)
    if not match:
        return {}, raw
    try:
        if match.group(1) == "+++":
            meta: Any = tomllib.loads(match.group(2))
        else:
            meta = yaml.safe_load(match.group(2)) or {}
    except (yaml.YAMLError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"'{source}': front matter is not valid: {exc}") from None
    if not isinstance(meta, dict):
        raise ValueError(f"'{source}': front matter must be key: value pairs")
    return meta, raw[match.end() :]


def _content_fields(meta: dict[str, Any]) -> dict[str, Any]:
    """Front-matter keys mapped onto `ContentItem` fields; unknown keys are ignored."""
    fields: dict[str, Any] = {}
    for key, value in meta.items():
        bare = str(key).lower().removeprefix("gtmflow:")
        name = _ALIASES.get(bare, bare)
        if name in ("id", "title", "url", "type") and value is not None:
            fields[name] = str(value)
        elif name == "topics" and value:
            fields["topics"] = _topics(value)
        elif name == "published_at" and value:
            fields["published_at"] = _published(value)
    return fields


def _topics(value: Any) -> tuple[str, ...]:
    items = value.split(",") if isinstance(value, str) else list(value)
    return tuple(dict.fromkeys(str(t).strip().lower() for t in items if str(t).strip()))


def _published(value: Any) -> datetime:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"published date '{value}' is not ISO-8601, e.g. 2025-03-01") from None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime.combine(value, time(), tzinfo=UTC)
    raise ValueError(f"published date {value!r} is not a date")


def _first_heading(body: str) -> str | None:
    match = re.search(r"^#\s+(.+?)\s*#*\s*$", body, re.MULTILINE)
    return match.group(1) if match else None


class _HtmlText(HTMLParser):
    """HTML to text: headings become `#` lines, blocks become paragraphs, chrome is dropped."""

    _SKIP = frozenset({"script", "style", "nav", "footer", "header", "aside", "noscript", "svg"})
    _BLOCKS = frozenset({"p", "div", "li", "br", "tr", "section", "article", "blockquote", "pre"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.meta: dict[str, str] = {}
        self.title: str | None = None
        self._skipping = 0
        self._in_title = False

    @classmethod
    def parse(cls, html: str) -> _HtmlText:
        parser = cls()
        parser.feed(html)
        parser.close()
        return parser

    @property
    def text(self) -> str:
        lines = (re.sub(r"[ \t]+", " ", line).strip() for line in "".join(self.parts).split("\n"))
        return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self._skipping += 1
        elif tag == "title":
            self._in_title = True
        elif tag == "meta":
            values = dict(attrs)
            key, content = values.get("name") or values.get("property"), values.get("content")
            if key and content:
                self.meta[key.lower().removeprefix("og:")] = content
        elif re.fullmatch(r"h[1-6]", tag):
            self.parts.append("\n\n" + "#" * int(tag[1]) + " ")
        elif tag in self._BLOCKS:
            self.parts.append("\n\n" if tag != "li" else "\n\n- ")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self._skipping = max(0, self._skipping - 1)
        elif tag == "title":
            self._in_title = False
        elif re.fullmatch(r"h[1-6]", tag) or tag in self._BLOCKS:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title = (self.title or "") + data.strip()
        elif not self._skipping:
            self.parts.append(data.replace("\n", " "))
