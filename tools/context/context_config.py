"""The `[context]` table of `gtmflow.toml`: an embedded store's folder or a Chroma server."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from gtmflow.errors import ConfigError

__all__ = ["CONTEXT_URL_ENV", "ContextConfig"]

CONTEXT_URL_ENV = "GTMFLOW_CONTEXT_URL"


@dataclass(frozen=True)
class ContextConfig:
    """The `[context]` table of `gtmflow.toml` (all optional).

    ```toml
    [context]
    url = "http://host:8000"   # a Chroma server (`chroma run`); GTMFLOW_CONTEXT_URL overrides
    mode = "embedded"          # or "http": a Chroma server (`chroma run --path DIR`)
    path = ".gtmflow/chroma"   # embedded: where the store lives, relative to the workspace
    host = "localhost"         # http
    port = 8000                # http
    ssl = false                # http
    prefix = ""                # http: collection name prefix, to share a server
    embedding = "minilm"       # "static", "hashing", or LangChain "provider:model"
    allow_outside_workspace = false  # embedded: let `path` leave the workspace
    ```
    """

    mode: Literal["embedded", "http"] = "embedded"
    path: str = ".gtmflow/chroma"
    host: str = "localhost"
    port: int = 8000
    ssl: bool = False
    prefix: str = ""
    embedding: str = "minilm"
    url: str = ""
    """A Chroma server as one URL (sets mode, host, port and ssl); empty: use those keys."""
    allow_outside_workspace: bool = False

    @classmethod
    def load(cls, root: str | Path) -> ContextConfig:
        """Read `root/gtmflow.toml`'s `[context]` table; a missing file or table means defaults.

        `GTMFLOW_CONTEXT_URL` in the environment overrides `url`, so workers on several
        machines can point one folder at a shared Chroma server.
        """
        path = Path(root) / "gtmflow.toml"
        table: dict[str, Any] = {}
        if path.exists():
            try:
                table = tomllib.loads(path.read_text(encoding="utf-8")).get("context", {})
            except tomllib.TOMLDecodeError as exc:
                raise ConfigError(
                    f"'{path}' is not valid TOML: {exc}; fix the line it names"
                ) from None
        if os.environ.get(CONTEXT_URL_ENV):
            table = {**table, "url": os.environ[CONTEXT_URL_ENV]}
        unknown = sorted(set(table) - set(cls.__dataclass_fields__))
        if unknown:
            raise ConfigError(
                f"'{path}': [context] has unknown keys {unknown}; known: "
                f"{sorted(cls.__dataclass_fields__)}"
            )
        if table.get("mode", "embedded") not in ("embedded", "http"):
            raise ConfigError(f"'{path}': [context] mode must be 'embedded' or 'http'")
        if table.get("url"):
            table = {**table, **_server(str(table["url"]), path)}
        return cls(**table)


def _server(url: str, path: Path) -> dict[str, Any]:
    """`http://host:port` as the http-mode keys it stands for."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        parts, port = None, None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"'{path}': [context] url = '{url}' is not a Chroma server URL; write it as "
            "http://host:8000 (https:// for TLS)"
        )
    secure = parts.scheme == "https"
    return {"mode": "http", "host": parts.hostname, "port": port or (443 if secure else 8000),
            "ssl": secure}  # fmt: skip
