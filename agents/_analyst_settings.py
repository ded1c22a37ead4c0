"""The `[analyst]` table of a workspace's `gtmflow.toml`: competitors and the seller's own names.

```toml
[analyst]
competitors = ["LeanData", "Chili Piper"]   # found spelling-tolerant, with or without a frame
own_names = ["Routewise", "Routing Studio"]  # your company and products: never a competitor
```

Both are optional. The competitor list adds to the default prior (`DEFAULT_COMPETITORS`); other
vendors are still found from how the prospect talks about them.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gtmflow.errors import ConfigError

__all__ = ["AnalystSettings"]


@dataclass(frozen=True)
class AnalystSettings:
    """Competitor names and own names a workspace configures for the transcript analyst."""

    competitors: tuple[str, ...] = ()
    own_names: tuple[str, ...] = ()

    @classmethod
    def load(cls, root: str | Path | None) -> AnalystSettings:
        """Read `root/gtmflow.toml`; no root, file or table means no settings."""
        path = Path(root) / "gtmflow.toml" if root is not None else None
        if path is None or not path.exists():
            return cls()
        try:
            table = tomllib.loads(path.read_text(encoding="utf-8")).get("analyst", {})
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"'{path}' is not valid TOML: {exc}; fix the line it names") from None
        if not isinstance(table, dict):
            raise ConfigError(f"'{path}': [analyst] must be a table, e.g. own_names = [\"Acme\"]")
        unknown = sorted(set(table) - {"competitors", "own_names"})
        if unknown:
            raise ConfigError(
                f"'{path}': [analyst] has unknown keys {unknown}; known: competitors, own_names"
            )
        return cls(
            competitors=_names(table, "competitors", path),
            own_names=_names(table, "own_names", path),
        )


def _names(table: dict[str, Any], key: str, path: Path) -> tuple[str, ...]:
    value = table.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ConfigError(
            f"'{path}': [analyst] {key} = {value!r} must be a list of names, "
            f'e.g. {key} = ["Acme", "Acme Cloud"]'
        )
    return tuple(v.strip() for v in value)
