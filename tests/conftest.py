"""Shared test fixtures: small workspaces with the three classic rules."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from gtmflow import Workspace
from gtmflow.runtime.scaffold import scaffold

SHARED = Path(__file__).resolve().parents[2] / "shared"
T0 = datetime(2026, 3, 1, tzinfo=UTC)


def at(days: float = 0, **kwargs: float) -> datetime:
    """T0 plus an offset; `at(7)` is seven days after the start of March 2026."""
    return T0 + timedelta(days=days, **kwargs)


def write_events(path: Path, rows: list[dict[str, Any]]) -> Path:
    """Write event dicts as JSONL, turning datetimes into ISO strings."""
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            data = {k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()}
            handle.write(json.dumps(data) + "\n")
    return path


def ev(id: str, type: str, contact: str, when: datetime, **props: Any) -> dict[str, Any]:
    """One event row."""
    return {"id": id, "type": type, "contact_id": contact, "timestamp": when, "properties": props}


@pytest.fixture
def workspace(tmp_path: Path) -> Iterator[Workspace]:
    """A scaffolded workspace (the three classic rules) in a temp folder."""
    scaffold(tmp_path)
    with Workspace.open(tmp_path) as ws:
        yield ws
