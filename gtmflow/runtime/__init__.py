"""The runtime: a workspace's stores and run loop, its enrollments, scaffold and simulator.

| module | holds |
| --- | --- |
| `workspace` | `Workspace`: stores, checkpointer, `run`/`tick`/`deliver`/`explain`/`forget` |
| `stores` | a workspace's stores from one setting: SQLite files or a PostgreSQL URL |
| `leases` | which worker holds a contact on a shared store (`SKIP LOCKED`, expiry, heartbeat) |
| `rules_pass` | the bulk run loop: rules judged per batch of contacts, graphs invoked for work |
| `run_state` | per-graph cursors and per-contact rule state (fire counts, next sweep) |
| `contact_pass` | the per-contact run loop for other graphs; store cursors and sweep times |
| `in_flight` | thread runs started and not yet committed, finished after a crash |
| `explain` | `explain`: a contact's rule verdicts with evidence, and its actions |
| `retention` | checkpoint retention: each thread's latest checkpoint; `compact` |
| `erasure` | `forget`: a person erased from every file under `.gtmflow`, resumably |
| `enrollments` | sequences running in a workspace: enroll, resume waits, react, approvals |
| `reloads` | rules, router, graphs and scorer loaded again only when their file changed |
| `library` | what nodes see of the context store (memory, content), opened lazily |
| `scaffold` | the files `gtmflow init` writes |
| `simulator` | weeks of sequences on a virtual clock, with invariants checked |
| `studio` | the `langgraph.json` and graphs LangGraph Studio (`langgraph dev`) opens |
"""

from __future__ import annotations

from gtmflow.runtime.workspace import RunReport, Workspace

__all__ = ["RunReport", "Workspace"]
