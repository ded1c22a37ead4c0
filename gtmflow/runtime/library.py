"""What nodes see of the context store: contact memory and content retrieval, opened lazily.

A workspace that never had content ingested answers `content_for` with nothing, without
opening Chroma; writing a note (a transcript's insights) opens it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gtmflow.runtime.workspace import Workspace

__all__ = ["LazyLibrary"]


class LazyLibrary:
    """The workspace's context store for nodes: contact memory and content retrieval.

    The store is opened only when something is written, or searched while it exists: a
    workspace without a context store answers content queries with nothing, at no cost.
    """

    def __init__(self, workspace: Workspace) -> None:
        self._workspace = workspace
        self._store_path: Path | None = None  # where an embedded store would be

    def remember_transcript(
        self,
        contact_id: str,
        transcript_id: str,
        insights: Sequence[str],
        *,
        date: datetime | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> Any:
        return self._workspace.context.remember_transcript(
            contact_id, transcript_id, insights, date=date, details=details
        )

    def transcript_details(self, contact_id: str, transcript_id: str) -> Mapping[str, Any] | None:
        if "context" not in self._workspace.__dict__ and not self._exists():
            return None
        return self._workspace.context.transcript_details(contact_id, transcript_id)

    def content_for(self, pains: str | Sequence[str], k: int = 5) -> Sequence[Any]:
        if "context" not in self._workspace.__dict__ and not self._exists():
            return []
        return self._workspace.context.content_for(pains, k)

    def _exists(self) -> bool:
        if self._store_path is None:  # gtmflow.toml is read once, not once per email
            from gtmflow.tools.context.context_config import ContextConfig

            config = ContextConfig.load(self._workspace.root)
            if config.mode != "embedded":
                return True
            self._store_path = self._workspace.root / config.path
        return self._store_path.exists()
