"""Workspace code loaded once and loaded again only when its file changed.

`Workspace.run` needs the rules (`rules.py`), the sequences they enroll in (`sequences.py`), the
router compiled from them and the points model (`scoring.py`); `run_all` also needs the graphs
(`graphs.py`). Importing those files and compiling the router on every run cost milliseconds per
run, which an hourly simulator or a `serve` loop pays thousands of times. `WorkspaceCode` keeps
each value with a fingerprint of the files it came from (size and a BLAKE2 digest of their
bytes: an edit within the same second is still seen) and loads it again only when a fingerprint
differs, so an edited `rules.py` is what the next run uses.

Only the named files are watched: a module that `rules.py` imports from elsewhere is not, so a
change there takes a new `Workspace.open` (as editing any installed module does).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from gtmflow.config import (
    WorkspaceConfig,
    check_enrollments,
    load_graphs,
    load_rules,
    load_sequences,
    module_spec,
)
from gtmflow.graphs.inbound_router import build_inbound_router
from gtmflow.pipes import Rule
from gtmflow.tools.attribution.scoring import LeadScorer, load_scorer

__all__ = ["WorkspaceCode", "workspace_file"]

_T = TypeVar("_T")
_Stamp = tuple[tuple[int, bytes] | None, ...]


def workspace_file(spec: str, root: Path, what: str) -> Path:
    """The file inside `root` a `module:attribute` spec loads from (when it exists there)."""
    module = module_spec(spec, what)[0]
    return root / (module.replace(".", "/") + ".py")


class WorkspaceCode:
    """A workspace's rules, router, graphs and scorer, each kept until one of its files changes."""

    def __init__(self, root: Path, config: WorkspaceConfig) -> None:
        self.root, self.config = root, config
        self._held: dict[str, tuple[_Stamp, Any]] = {}
        self.loads = 0
        """How many times a value was (re)loaded (what the tests count)."""

    def rules(self) -> list[Rule]:
        """The configured rules; every `enroll('name')` must name a configured sequence."""
        return list(self._get("rules", self._rule_files(), self._load_rules))

    def router(self) -> Any:
        """The inbound router over `rules()`, compiled again only when they changed."""
        return self._get(
            "router", self._rule_files(), lambda: build_inbound_router(rules=self.rules())
        )

    def graphs(self) -> list[Any]:
        """The configured graphs besides the rules."""
        files = [workspace_file(self.config.graphs, self.root, "graphs")]
        return list(
            self._get("graphs", files, lambda: load_graphs(self.config.graphs, root=self.root))
        )

    def scorer(self) -> LeadScorer:
        """The points model (`scoring.py`'s `SCORER`, else the default)."""
        return self._get("scorer", [self.root / "scoring.py"], lambda: load_scorer(self.root))

    def _load_rules(self) -> list[Rule]:
        rules = load_rules(self.config.rules, root=self.root)
        sequences = load_sequences(self.config.sequences, root=self.root)
        check_enrollments(rules, sequences, where=f"rules '{self.config.rules}'")
        return rules

    def _rule_files(self) -> list[Path]:
        return [
            workspace_file(self.config.rules, self.root, "rules"),
            workspace_file(self.config.sequences, self.root, "sequences"),
        ]

    def _get(self, key: str, files: Sequence[Path], load: Callable[[], _T]) -> _T:
        stamp = tuple(_fingerprint(path) for path in files)
        held = self._held.get(key)
        if held is not None and held[0] == stamp:
            return held[1]  # type: ignore[no-any-return]
        value = load()
        self.loads += 1
        self._held[key] = (stamp, value)
        return value


def _fingerprint(path: Path) -> tuple[int, bytes] | None:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    return len(data), hashlib.blake2b(data, digest_size=16).digest()
