"""Workspace configuration: `gtmflow.toml` and the rules it names.

```toml
[gtmflow]
rules = "rules:RULES"          # module:attribute; a module file in the workspace comes first

[outbox]
transport = "file"             # "file" (JSONL under .gtmflow/) or "console"
```
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

from gtmflow.errors import ConfigError
from gtmflow.pipes import Rule

__all__ = ["CONFIG_FILE", "WorkspaceConfig", "load_rules"]

CONFIG_FILE = "gtmflow.toml"


@dataclass(frozen=True)
class WorkspaceConfig:
    """Settings read from a workspace's `gtmflow.toml` (all optional)."""

    rules: str = "rules:RULES"
    transport: Literal["file", "console"] = "file"

    @classmethod
    def load(cls, root: Path) -> WorkspaceConfig:
        """Read `root/gtmflow.toml`; a missing file means the defaults."""
        path = root / CONFIG_FILE
        if not path.exists():
            return cls()
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"'{path}' is not valid TOML: {exc}; fix the line it names") from None
        return cls._from_dict(data, path)

    @classmethod
    def _from_dict(cls, data: dict[str, Any], path: Path) -> WorkspaceConfig:
        defaults = cls()
        rules = data.get("gtmflow", {}).get("rules", defaults.rules)
        transport = data.get("outbox", {}).get("transport", defaults.transport)
        if transport not in ("file", "console"):
            raise ConfigError(
                f"'{path}': [outbox] transport = '{transport}' is not known; use 'file' or "
                "'console'"
            )
        if not isinstance(rules, str) or ":" not in rules:
            raise ConfigError(
                f"'{path}': [gtmflow] rules = {rules!r} must be 'module:attribute', "
                "e.g. 'rules:RULES'"
            )
        return cls(rules=rules, transport=transport)


def load_rules(spec: str, *, root: Path) -> list[Rule]:
    """Load rules named `module:attribute`; a `module.py` inside `root` wins over installed ones.

    The attribute may be a list of rules or a function returning one.
    """
    module_name, _, attribute = spec.partition(":")
    module = _import(module_name, root)
    try:
        value = getattr(module, attribute)
    except AttributeError:
        raise ConfigError(
            f"rules '{spec}': module '{module_name}' has no attribute '{attribute}'; "
            f"define {attribute} = [Rule(...), ...] there or change [gtmflow] rules"
        ) from None
    if callable(value):
        value = value()
    return _check_rules(value, spec)


def _import(module_name: str, root: Path) -> ModuleType:
    local = root / (module_name.replace(".", "/") + ".py")
    if local.exists():
        name = f"gtmflow_workspace_{abs(hash(str(local.resolve())))}_{module_name}"
        spec = importlib.util.spec_from_file_location(name, local)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        return module
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError:
        raise ConfigError(
            f"rules module '{module_name}' not found: no '{local}' and no installed module of "
            "that name; run `gtmflow init` to scaffold one"
        ) from None


def _check_rules(value: Any, spec: str) -> list[Rule]:
    if isinstance(value, Rule):
        return [value]
    if not isinstance(value, Sequence) or not all(isinstance(r, Rule) for r in value):
        raise ConfigError(
            f"rules '{spec}' must be a list of gtmflow.pipes.Rule, got {type(value).__name__}"
        )
    return list(value)
