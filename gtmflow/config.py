"""Workspace configuration: `gtmflow.toml` and the rules it names.

```toml
[gtmflow]
rules = "rules:RULES"              # module:attribute (dotted names, never paths); a module file
                                   # in the workspace comes first
sequences = "sequences:SEQUENCES"  # optional: no such module means no sequences
graphs = "graphs:GRAPHS"           # optional: compiled graphs `gtmflow run` runs after the rules

[store]                            # optional: SQLite under .gtmflow/ when absent
url = "postgresql://gtm@db:5432/gtm"  # GTMFLOW_STORE_URL overrides; the password only from env

[outbox]
transport = "file"                 # "file" (JSONL under .gtmflow/) or "console"; no path key

[outbox.retry]                     # transient failures (SMTP down, 451, webhook 5xx/429)
first = "1m"                       # wait after the first failed attempt, doubling each time
longest = "2h"                     # longest wait between attempts
max_age = "1d"                     # then `failed` with the last reason

[checkpoints]
keep = "latest"                    # each thread's latest checkpoint; "all": LangGraph's history

[governor]                         # every key optional; see gtmflow.governor.GovernorPolicy
frequency_cap = [3, "7d"]          # or false
quiet_hours = ["20:00", "08:00"]   # recipient-local; or false
weekends = true                    # quiet all weekend too
sender_daily_cap = 200
hourly_pacing = 100
require_consent = false
approvals = { "send_email:ai" = "approve", "alert_sales" = "auto" }
```
"""

from __future__ import annotations

import builtins
import difflib
import importlib
import importlib.util
import re
import sys
import tomllib
import traceback
from collections.abc import Sequence as Seq
from dataclasses import dataclass, field
from datetime import time
from pathlib import Path
from types import ModuleType
from typing import Any, Literal
from urllib.parse import urlsplit

from gtmflow.errors import ConfigError
from gtmflow.governor import GovernorPolicy, QuietHours
from gtmflow.graphs.sequences import Sequence
from gtmflow.pipes import Rule
from gtmflow.tools.delivery.retry_schedule import RetrySchedule

__all__ = [
    "CONFIG_FILE",
    "WorkspaceConfig",
    "load_graphs",
    "load_rules",
    "load_sequences",
    "module_spec",
]

CONFIG_FILE = "gtmflow.toml"
_MODULE_NAME = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*")


@dataclass(frozen=True)
class WorkspaceConfig:
    """Settings read from a workspace's `gtmflow.toml` (all optional)."""

    rules: str = "rules:RULES"
    transport: Literal["file", "console"] = "file"
    sequences: str = "sequences:SEQUENCES"
    graphs: str = "graphs:GRAPHS"
    governor: dict[str, Any] = field(default_factory=dict)
    store_url: str | None = None
    """`[store] url`: a PostgreSQL store shared by workers (None: SQLite in the workspace)."""
    lease_seconds: float = 30.0
    """`[store] lease_seconds`: how long a worker's lease on a contact, or on a batch of outbox
    rows, lasts without a heartbeat."""
    checkpoints: Literal["latest", "all"] = "latest"
    outbox_retry: dict[str, Any] = field(default_factory=dict)

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
        outbox = data.get("outbox", {})
        _check_outbox(outbox, path)
        transport = outbox.get("transport", defaults.transport)
        if transport not in ("file", "console"):
            raise ConfigError(
                f"'{path}': [outbox] transport = '{transport}' is not known; use 'file' or "
                "'console'"
            )
        table = data.get("gtmflow", {})
        rules = table.get("rules", defaults.rules)
        sequences = table.get("sequences", defaults.sequences)
        graphs = table.get("graphs", defaults.graphs)
        for what, spec in (("rules", rules), ("sequences", sequences), ("graphs", graphs)):
            module_spec(spec, what, where=f"'{path}': ")
        governor = data.get("governor", {})
        if not isinstance(governor, dict):
            raise ConfigError(f"'{path}': [governor] must be a table of settings")
        keep = data.get("checkpoints", {}).get("keep", defaults.checkpoints)
        if keep not in ("latest", "all"):
            raise ConfigError(
                f"'{path}': [checkpoints] keep = {keep!r} is not known; use 'latest' (each "
                "thread's latest checkpoint) or 'all' (every checkpoint, for time travel)"
            )
        retry = data.get("outbox", {}).get("retry", {})
        if not isinstance(retry, dict):
            raise ConfigError(f"'{path}': [outbox.retry] must be a table, e.g. first = '1m'")
        return cls(
            rules=rules, transport=transport, sequences=sequences, graphs=graphs,
            governor=governor, checkpoints=keep, outbox_retry=retry,
            store_url=_store_url(data.get("store", {}), path),
            lease_seconds=_lease_seconds(data.get("store", {}), path),
        )  # fmt: skip

    def retry_schedule(self) -> RetrySchedule:
        """When the outbox retries transient failures (`[outbox.retry]`, defaults where silent)."""
        return RetrySchedule.from_settings(self.outbox_retry)

    def governor_policy(self) -> GovernorPolicy:
        """The governor policy the `[governor]` table describes (defaults where silent)."""
        known = {
            "frequency_cap",
            "quiet_hours",
            "weekends",
            "sender_daily_cap",
            "hourly_pacing",
            "require_consent",
            "approvals",
        }
        unknown = sorted(set(self.governor) - known)
        if unknown:
            raise ConfigError(f"[governor] has unknown keys {unknown}; known: {sorted(known)}")
        settings = {k: v for k, v in self.governor.items() if k not in ("quiet_hours", "weekends")}
        if "frequency_cap" in settings:
            cap = settings["frequency_cap"]
            settings["frequency_cap"] = tuple(cap) if cap else None
        return GovernorPolicy(**settings, quiet_hours=self._quiet_hours())

    def _quiet_hours(self) -> QuietHours | None:
        window = self.governor.get("quiet_hours", ["20:00", "08:00"])
        if not window:
            return None
        try:
            start, end = (time.fromisoformat(t) for t in window)
        except (TypeError, ValueError):
            raise ConfigError(
                f"[governor] quiet_hours = {window!r} must be two times, e.g. ['20:00', '08:00']"
            ) from None
        return QuietHours(start, end, weekends=bool(self.governor.get("weekends", True)))


def _lease_seconds(table: dict[str, Any], path: Path) -> float:
    value = table.get("lease_seconds", 30.0)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 1:
        raise ConfigError(
            f"'{path}': [store] lease_seconds must be a number of seconds >= 1, e.g. 30 "
            f"(got {value!r})"
        )
    return float(value)


def _store_url(table: Any, path: Path) -> str | None:
    if not isinstance(table, dict) or set(table) - {"url", "lease_seconds"}:
        raise ConfigError(
            f"'{path}': [store] takes url = 'postgresql://user@host/db' and lease_seconds = 30"
        )
    url = table.get("url")
    if url is None:
        return None
    if not isinstance(url, str) or not url:
        raise ConfigError(
            f"'{path}': [store] url must be a string like 'postgresql://user@host/db'"
        )
    try:
        secret = urlsplit(url).password
    except ValueError:
        secret = None  # the store names what is wrong with the URL when it opens
    if secret:
        raise ConfigError(
            f"'{path}': [store] url holds a password; secrets come only from the environment: "
            "remove it and set PGPASSWORD (or GTMFLOW_STORE_URL with the password) instead"
        )
    return url


def load_rules(spec: str, *, root: Path) -> list[Rule]:
    """Load rules named `module:attribute`; a `module.py` inside `root` wins over installed ones.

    The attribute may be a list of rules or a function returning one.
    """
    return _check_rules(_load(spec, root, "rules", "Rule"), spec)


def check_enrollments(rules: Seq[Rule], sequences: Seq[Sequence], *, where: str) -> None:
    """Refuse `enroll('name')` actions whose sequence is not defined, with the likely name."""
    known = sorted(s.name for s in sequences)
    problems = []
    for rule in rules:
        for spec in rule.actions:
            name = str(spec.payload_dict().get("sequence", "")) if spec.kind == "enroll" else ""
            if spec.kind != "enroll" or name in known:
                continue
            close = difflib.get_close_matches(name, known, n=1)
            hint = (
                f"did you mean '{close[0]}'?" if close else f"known: {', '.join(known) or 'none'}"
            )
            problems.append(f"rule '{rule.name}' enrolls in unknown sequence '{name}' ({hint})")
    if problems:
        raise ConfigError(
            f"{where}: " + "; ".join(problems) + "; fix the enroll('…') name or define the "
            "sequence in sequences.py"
        )


def load_sequences(spec: str, *, root: Path) -> list[Sequence]:
    """Load sequences named `module:attribute`; no such module means no sequences."""
    if _absent(spec, root, "sequences"):
        return []
    value = _load(spec, root, "sequences", "Sequence")
    if not isinstance(value, list | tuple) or not all(isinstance(s, Sequence) for s in value):
        raise ConfigError(f"sequences '{spec}' must be a list of gtmflow Sequence objects")
    return list(value)


def load_graphs(spec: str, *, root: Path) -> list[Any]:
    """Load compiled graphs named `module:attribute` (a list, or a function returning one).

    Without a `module.py` in `root`, the default spec means no graphs; a spec you configured
    may also name an installed module. Each graph needs a unique `name`: it is part of every
    thread id and idempotency key, so renaming a graph starts its threads afresh.
    """
    if _absent(spec, root, "graphs", installed=spec != WorkspaceConfig.graphs):
        return []
    value = _load(spec, root, "graphs", "build_followup_graph")
    graphs = list(value) if isinstance(value, list | tuple) else [value]
    if not all(
        callable(getattr(g, "invoke", None)) and isinstance(getattr(g, "name", None), str)
        for g in graphs
    ):
        raise ConfigError(
            f"graphs '{spec}' must be a list of compiled LangGraph graphs (builder.compile(...)),"
            " e.g. [build_followup_graph(...)]"
        )
    names: list[str] = [g.name for g in graphs]
    clashes = sorted({n for n in names if names.count(n) > 1 or n == "inbound_router"})
    if clashes:
        raise ConfigError(
            f"graphs '{spec}': names {clashes} are used twice or by the rules' router; give "
            "each graph its own name (build_followup_graph(name=...))"
        )
    return graphs


def _local_file(module_name: str, root: Path) -> Path:
    return root / (module_name.replace(".", "/") + ".py")


def module_spec(spec: Any, what: str, *, where: str = "") -> tuple[str, str]:
    """`(module, attribute)` of a `module:attribute` spec, whose module is a dotted name.

    A path (`../x`, `/tmp/x`, `x.py`) is refused: workspace modules are found by their dotted
    name inside the workspace, so configuration never loads code from elsewhere.

    Raises:
        ConfigError: The spec is not `module:attribute` with Python names.
    """
    example = {"rules": "rules:RULES", "sequences": "sequences:SEQUENCES"}.get(
        what, "graphs:GRAPHS"
    )
    shape = f"{where}[gtmflow] {what} = {spec!r} must be 'module:attribute', e.g. '{example}'"
    if not isinstance(spec, str) or ":" not in spec:
        raise ConfigError(shape)
    module, _, attribute = spec.partition(":")
    if not _MODULE_NAME.fullmatch(module) or module.endswith(".py"):
        raise ConfigError(
            f"{shape}: '{module}' is not a module name; a file in the workspace is named by its "
            "dotted path without '.py' (e.g. 'rules' or 'pkg.rules'), and files outside the "
            "workspace are never loaded"
        )
    if not attribute.isidentifier():
        raise ConfigError(f"{shape}: '{attribute}' is not a Python name")
    return module, attribute


def _absent(spec: str, root: Path, what: str, *, installed: bool = True) -> bool:
    """No `module.py` in `root` and (when `installed` may count) no installed module either."""
    module_name = module_spec(spec, what)[0]
    if _local_file(module_name, root).exists():
        return False
    return not installed or importlib.util.find_spec(module_name) is None


def _load(spec: str, root: Path, what: str, item: str) -> Any:
    module_name, attribute = module_spec(spec, what)
    module = _import(module_name, root)
    try:
        value = getattr(module, attribute)
    except AttributeError:
        raise ConfigError(
            f"{what} '{spec}': module '{module_name}' has no attribute '{attribute}'; "
            f"define {attribute} = [{item}(...), ...] there or change [gtmflow] {what}"
        ) from None
    return value() if callable(value) else value


def _import(module_name: str, root: Path) -> ModuleType:
    local = _local_file(module_name, root)
    if local.exists():
        name = f"gtmflow_workspace_{abs(hash(str(local.resolve())))}_{module_name}"
        spec = importlib.util.spec_from_file_location(name, local)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            sys.modules.pop(name, None)
            raise _module_error(exc, local) from None
        return module
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError:
        raise ConfigError(
            f"rules module '{module_name}' not found: no '{local}' and no installed module of "
            "that name; run `gtmflow init` to scaffold one"
        ) from None


def _module_error(exc: Exception, path: Path) -> ConfigError:
    """A mistake in a workspace module as a ConfigError: file, line, what, the likely fix."""
    if isinstance(exc, SyntaxError):
        where = f"{path}:{exc.lineno}" if exc.lineno else str(path)
        line = (exc.text or "").strip()
        shown = f": {line}" if line else ""
        return ConfigError(f"{where}: syntax error, {exc.msg}{shown}")
    lines = [f.lineno for f in traceback.extract_tb(exc.__traceback__) if _same(f.filename, path)]
    where = f"{path}:{lines[-1]}" if lines and lines[-1] else str(path)
    if isinstance(exc, ConfigError):
        return ConfigError(f"{where}: {exc}")
    return ConfigError(f"{where}: {type(exc).__name__}: {exc}{_did_you_mean(exc)}")


def _same(filename: str, path: Path) -> bool:
    try:
        return Path(filename).resolve() == path.resolve()
    except OSError:
        return False


def _did_you_mean(exc: Exception) -> str:
    """ "; did you mean `count`?" for a misspelled attribute or name, else ""."""
    name = getattr(exc, "name", None)
    if isinstance(exc, AttributeError) and name:
        options = [n for n in dir(getattr(exc, "obj", None)) if not n.startswith("_")]
    elif isinstance(exc, NameError) and name:
        options = [n for n in dir(builtins) if not n.startswith("_")]
    else:
        return ""
    close = difflib.get_close_matches(str(name), options, n=1)
    return f"; did you mean `{close[0]}`?" if close else ""


def _check_outbox(table: Any, path: Path) -> None:
    if not isinstance(table, dict):
        raise ConfigError(f"'{path}': [outbox] must be a table, e.g. transport = \"file\"")
    unknown = sorted(set(table) - {"transport", "retry"})
    if unknown:
        raise ConfigError(
            f"'{path}': [outbox] has unknown keys {unknown}; known: ['retry', 'transport']. "
            "To write actions to a file of your choosing, add [transports.audit] with type = "
            '"file" and path = "..." inside the workspace, and route kinds to it in '
            "[transports.routes]"
        )


def _check_rules(value: Any, spec: str) -> list[Rule]:
    if isinstance(value, Rule):
        return [value]
    if not isinstance(value, Seq) or not all(isinstance(r, Rule) for r in value):
        raise ConfigError(
            f"rules '{spec}' must be a list of gtmflow.pipes.Rule, got {type(value).__name__}"
        )
    return list(value)
