"""Delivery: the outbox, transports (file, console, SMTP, webhook), their config, the scheduler,
approvals and trigger owners.

| module | holds |
| --- | --- |
| `outbox` | the exactly-once ledger of intended side effects, and the delivery loop |
| `outbox_rows` | the outbox's SQLite schema, and records to and from its rows |
| `ledger` | what the outbox speaks: a record, a gate's verdict, a delivery report |
| `retry_schedule` | when the outbox tries a transient failure again, and when it gives up |
| `transports` | `Transport` and the built-in file, console and routing transports |
| `smtp`, `webhook` | email over SMTP; JSON POSTs (Slack-compatible) with idempotency keys |
| `transport_config` | transports and routes from `gtmflow.toml`, secrets from the environment |
| `scheduler` | durable timers: waits are rows, not sleeping processes |
| `approvals` | drafts a graph paused on, waiting for a person |
| `owners` | who follows up each webinar or call: one journey per trigger and contact |
"""

from __future__ import annotations

from gtmflow.tools.delivery.approvals import Approval, ApprovalBook
from gtmflow.tools.delivery.outbox import DeliveryReport, Outbox, OutboxRecord, Verdict
from gtmflow.tools.delivery.owners import TriggerOwners
from gtmflow.tools.delivery.scheduler import Scheduler
from gtmflow.tools.delivery.transport_config import load_transports
from gtmflow.tools.delivery.transports import Transport

__all__ = [
    "Approval",
    "ApprovalBook",
    "DeliveryReport",
    "Outbox",
    "OutboxRecord",
    "Scheduler",
    "Transport",
    "TriggerOwners",
    "Verdict",
    "load_transports",
]
