"""The runtime: a workspace's stores and run loop, its enrollments, scaffold and simulator.

| module | holds |
| --- | --- |
| `workspace` | `Workspace`: stores, checkpointer, `run`/`tick`/`deliver`/`explain`/`forget` |
| `enrollments` | sequences running in a workspace: enroll, resume waits, react, approvals |
| `library` | what nodes see of the context store (memory, content), opened lazily |
| `scaffold` | the files `gtmflow init` writes |
| `simulator` | weeks of sequences on a virtual clock, with invariants checked |
| `studio` | the `langgraph.json` and graphs LangGraph Studio (`langgraph dev`) opens |
"""

from __future__ import annotations

from gtmflow.runtime.workspace import RunReport, Workspace

__all__ = ["RunReport", "Workspace"]
