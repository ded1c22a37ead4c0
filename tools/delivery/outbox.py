"""The outbox: an exactly-once ledger of intended side effects.

Nodes never perform effects; they return `Action`s. The runtime writes them here, keyed by the
action's idempotency key under a unique constraint, so a re-run, a resume or a crash-replay that
produces the same action again changes nothing. Delivery claims a row before calling the
transport: a crash mid-delivery leaves it `unknown`, and `unknown` is never sent again
automatically (a person decides, `gtmflow outbox retry`), so nothing is ever delivered twice.

An *internal* transport (`Transport.internal`, e.g. enroll: no outside receiver) is not claimed
as `unknown`: its effect is idempotent by the record's key, so the record stays `pending` under
a short lease while the effect runs and turns `sent` in one transaction after it; a crash half
way leaves it `pending`, and the next pass (once the lease ran out) finishes it. One whose data
is wrong (an `InputError`, e.g. a transcript no parser can read) is `failed` at once with the
reason and the retry command: trying it again would change nothing.

A pass works through due records a batch at a time. With `batch_lease` (the PostgreSQL store
sets it from `[store] lease_seconds`) it leases each batch first, in one statement with
`FOR UPDATE SKIP LOCKED`, renews the lease while it works, and gives back what it did not reach;
passes in other processes take other rows, and a killed pass's batch is free once its lease
runs out. The lease only shares work: the claim above is what keeps a send to at most once.

A transient failure (`DeliveryDeferred`: SMTP down or 451, webhook 5xx or 429) goes back to
`pending` with a `next_attempt_at` from the `RetrySchedule` (honouring `Retry-After`), and is
`failed` with the last reason once it outlives the schedule's `max_age`.

Statuses: `pending` (waiting, perhaps until `next_attempt_at`), `sent`, `failed` (the transport
said no, or kept deferring past `max_age`), `unknown` (outcome not known), `held` (kept back by
policy until `hold_until`, or until approved), `cancelled`.

A *gate* (the governor, `gtmflow.governor`) may look at each pending record just before it is
sent and answer allow, hold until a time, or cancel; every hold and cancel keeps its reason.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import uuid
from collections import Counter
from collections.abc import Callable, Collection, Generator, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, Literal

from gtmflow.clock import Clock, SystemClock
from gtmflow.errors import ConfigError, InputError
from gtmflow.models import Action, ActionStatus
from gtmflow.tools._database import StoreTarget, ledger_database
from gtmflow.tools.delivery.ledger import DeliveryReport, Gate, OutboxRecord, PutResult, Verdict
from gtmflow.tools.delivery.outbox_rows import (
    COLUMNS,
    INSERT,
    SCHEMA,
    STATUSES,
    add_new_columns,
    log_change,
    select,
    span,
    to_record,
    to_row,
    utc,
    wall,
)
from gtmflow.tools.delivery.retry_schedule import RetrySchedule
from gtmflow.tools.delivery.transports import DeliveryDeferred, DeliveryFailed, Transport

__all__ = ["DeliveryReport", "Gate", "Outbox", "OutboxRecord", "PutResult", "Verdict"]

LEASE = timedelta(seconds=60)
"""How long a pass holds its batch, or an internal effect, before another pass may take it."""
BATCH = 50
"""Records a delivery pass leases at a time."""
log = logging.getLogger("gtmflow.delivery")


class Outbox:
    """The outbox of one workspace: a SQLite file, or the workspace's shared PostgreSQL store.

    Example:
        >>> from datetime import UTC, datetime
        >>> box = Outbox(":memory:")
        >>> act = Action(kind="alert_sales", contact_id="c-1", graph="g", source="r",
        ...              created_at=datetime(2026, 1, 1, tzinfo=UTC))
        >>> box.put([act]), box.put([act])
        (PutResult(added=1, existing=0), PutResult(added=0, existing=1))
    """

    def __init__(
        self,
        path: StoreTarget,
        *,
        clock: Clock | None = None,
        retry: RetrySchedule | None = None,
        lease: timedelta = LEASE,
        batch: int = BATCH,
        batch_lease: timedelta | None = None,
    ) -> None:
        if batch < 1:
            raise ConfigError(f"batch={batch} must be at least 1 (records leased at a time)")
        self._db = ledger_database(path, SCHEMA)
        add_new_columns(self._db)
        self.clock: Clock = clock or SystemClock()
        self.retry = retry or RetrySchedule()
        self.lease = lease
        self.batch = batch
        self.batch_lease = batch_lease
        """How long a pass holds the batch it leased; None: batches are not leased (one
        machine on SQLite: passes share rows through the claim alone)."""
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        """Who this outbox is in leases (host, process, instance)."""

    def close(self) -> None:
        """Close the database connection."""
        self._db.close()

    def put(self, actions: Iterable[Action], *, status: ActionStatus = "pending") -> PutResult:
        """Record actions; an idempotency key already present is left untouched."""
        now = utc(self.clock.now())
        rows = [to_row(a, status, now) for a in actions]
        added: list[str] = []
        with self._db.transaction() as conn:
            for row in rows:
                if conn.execute(INSERT, row).rowcount == 1:
                    added.append(row[0])
                    log_change(conn, row[0], status, "written", now)
        return PutResult(added=len(added), existing=len(rows) - len(added), keys=tuple(added))

    def records(
        self,
        *,
        status: ActionStatus | None = None,
        contact_id: str | None = None,
        kinds: Collection[str] | None = None,
        limit: int | None = None,
    ) -> list[OutboxRecord]:
        """Records in the order they were written, optionally filtered."""
        if status is not None and status not in STATUSES:
            raise ConfigError(f"status '{status}' is not one of {', '.join(STATUSES)}")
        sql, args = select(status, contact_id, kinds, limit)
        return [to_record(row) for row in self._db.query(sql, args)]

    def record(self, key: str) -> OutboxRecord | None:
        """One record by idempotency key."""
        rows = self._db.query(f"SELECT {COLUMNS} FROM outbox WHERE idempotency_key = ?", (key,))
        return to_record(rows[0]) if rows else None

    def history(self, key: str) -> list[dict[str, Any]]:
        """Every status change of a record: written, held, released, delivering, sent, …"""
        rows = self._db.query(
            "SELECT at, status, note FROM outbox_history WHERE idempotency_key = ? ORDER BY rowid",
            (key,),
        )
        return [{"at": at, "status": status, "note": note} for at, status, note in rows]

    def counts(self) -> dict[str, int]:
        """Number of records per status."""
        rows = self._db.query("SELECT status, COUNT(*) FROM outbox GROUP BY status")
        return dict(Counter({status: n for status, n in rows}))

    def delivered_since(
        self, since: datetime, *, contact_id: str | None = None, kinds: Collection[str] = ()
    ) -> list[OutboxRecord]:
        """Records delivered (`sent` or `unknown`) at or after `since`, oldest first."""
        sql = f"SELECT {COLUMNS} FROM outbox WHERE delivered_at >= ? "
        args: list[Any] = [utc(since)]
        if contact_id is not None:
            sql += "AND contact_id = ? "
            args.append(contact_id)
        if kinds:
            sql += f"AND kind IN ({', '.join('?' for _ in kinds)}) "
            args.extend(kinds)
        return [to_record(row) for row in self._db.query(sql + "ORDER BY delivered_at", args)]

    def deliver(
        self,
        transport: Transport | Callable[[OutboxRecord], Transport],
        *,
        gate: Gate | None = None,
        limit: int | None = None,
        now: datetime | None = None,
    ) -> DeliveryReport:
        """Deliver due pending records (and held ones whose time has come), each at most once.

        `transport` is one transport, or a function choosing one per record. A record is
        claimed (status `unknown`, attempts + 1) before the transport is called; success marks
        it `sent`, a `DeliveryDeferred` puts it back to `pending` until its next attempt, a
        `DeliveryFailed` marks it `failed`. Any other exception leaves it `unknown`: the effect
        may have happened, so it is not retried automatically. Internal transports are leased,
        never claimed as `unknown` (see the module docstring). A record another pass claimed
        first is counted `skipped`. `now` (default: the outbox clock) is the instant the gate
        judges at, the recorded delivery time and what retry times are measured from.
        """
        now = now or self.clock.now()
        self.release_due(now)
        outcome: Counter[str] = Counter()
        reasons: Counter[str] = Counter()
        down: dict[int, DeliveryDeferred] = {}  # receivers found unavailable in this pass
        records = self._leased(now, limit)
        try:
            for record in records:
                verdict = gate(record, now) if gate else Verdict.allow()
                if verdict.decision != "allow":
                    if not self._stop(record.action.idempotency_key, verdict):
                        outcome["skipped"] += 1  # another pass took it meanwhile
                        continue
                    status = "held" if verdict.decision == "hold" else "cancelled"
                    outcome[status] += 1
                    reasons[f"{status}: {verdict.reason or 'no reason given'}"] += 1
                    continue
                chosen = transport if isinstance(transport, Transport) else transport(record)
                outcome[self._send(record, chosen, now, down)] += 1
        finally:
            records.close()  # gives back what is left of the batch, if the pass stopped early
        return DeliveryReport(**outcome, reasons=dict(reasons))

    def _leased(self, now: datetime, limit: int | None) -> Generator[OutboxRecord, None, None]:
        """Due records, leased to this pass a batch at a time, oldest first.

        Each batch is taken in one statement (`FOR UPDATE SKIP LOCKED` on PostgreSQL), so
        passes in other processes take other rows instead of racing for the same ones. The
        lease is renewed while the batch is worked through; rows left when the pass stops
        early are released, and a killed pass's rows are free again when its lease runs out.
        A row is still delivered only through `_claim`, so the lease shares work and is never
        what keeps a record from being sent twice.
        """
        done = 0
        ((ceiling,),) = self._db.query("SELECT COALESCE(MAX(seq), 0) FROM outbox")
        floor = 0  # each batch starts past the last one: a row still due waits for a next pass
        while limit is None or done < limit:  # rows written meanwhile wait for a next pass too
            size = self.batch if limit is None else min(self.batch, limit - done)
            batch = self._lease_batch(now, size, (floor, int(ceiling)))
            if not batch:
                return
            floor = batch[-1][0]
            renewed = wall()
            for n, (_, record) in enumerate(batch):
                if self.batch_lease is not None and wall() - renewed > self.batch_lease / 3:
                    self._renew()
                    renewed = wall()
                done += 1
                try:
                    yield record
                except GeneratorExit:
                    self._release([r.action.idempotency_key for _, r in batch[n + 1 :]])
                    raise

    def leased_elsewhere(self, now: datetime) -> float:
        """Seconds until the last lease another pass holds on a due pending record runs out.

        A pass skips those rows (their pass is sending them, or it died and they are free once
        its lease runs out); a caller that must not stop before they are sent (a tick, whose
        delivery no live worker shares) waits this long and delivers again. 0: none.
        """
        if self.batch_lease is None:
            return 0.0
        ((last,),) = self._db.query(
            "SELECT MAX(lease_until) FROM outbox WHERE status = 'pending' AND lease_until > ? "
            "AND lease_holder <> ? AND (next_attempt_at IS NULL OR next_attempt_at <= ?)",
            (utc(wall()), self.holder, utc(now)),
        )
        return (
            0.0
            if last is None
            else max((datetime.fromisoformat(last) - wall()).total_seconds(), 0.0)
        )

    def next_retry(self) -> datetime | None:
        """When the earliest pending record that failed transiently is due again (None: none)."""
        ((first,),) = self._db.query(
            "SELECT MIN(next_attempt_at) FROM outbox WHERE status = 'pending' "
            "AND next_attempt_at IS NOT NULL"
        )
        return None if first is None else datetime.fromisoformat(first)

    def requeue(
        self, keys: Sequence[str] = (), *, status: Literal["failed", "unknown"] | None = None
    ) -> list[str]:
        """Put `failed` or `unknown` records back to pending, after a person checked them.

        Args:
            keys: Idempotency keys, or unique prefixes of them (`gtmflow outbox` shows 12
                characters); none means every record with `status`.
            status: Only records with this status (`failed` or `unknown`).

        Returns:
            The full keys requeued, in the order given (or written).
        """
        if status is not None and status not in ("failed", "unknown"):
            raise ConfigError(f"only failed or unknown records can be retried, not '{status}'")
        if not keys and status is None:
            raise ConfigError("name the records to retry (idempotency keys) or a status")
        chosen = [self._resolve(k, status) for k in keys] if keys else [
            r.action.idempotency_key for r in self.records(status=status)
        ]  # fmt: skip
        now = utc(self.clock.now())
        with self._db.transaction() as conn:
            for key in chosen:
                conn.execute(
                    "UPDATE outbox SET status = 'pending', next_attempt_at = NULL, "
                    "first_attempt_at = NULL, lease_until = NULL, delivered_at = NULL, "
                    "hold_until = NULL, updated_at = ? WHERE idempotency_key = ?",
                    (now, key),
                )
                log_change(conn, key, "pending", "requeued by hand", now)
        return chosen

    def _resolve(self, key: str, status: str | None) -> str:
        pattern = key.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        rows = self._db.query(
            "SELECT idempotency_key, status FROM outbox WHERE idempotency_key LIKE ? ESCAPE '\\' "
            "LIMIT 2",
            (pattern,),
        )
        if not rows:
            raise ConfigError(f"no outbox record has idempotency key '{key}'; see `gtmflow outbox`")
        if len(rows) > 1:
            raise ConfigError(f"'{key}' starts more than one idempotency key; give more of it")
        full, current = rows[0]
        if current not in ("failed", "unknown") or (status and current != status):
            wanted = status or "failed or unknown"
            raise ConfigError(f"outbox record '{full[:12]}' is {current}; only {wanted} ones retry")
        return str(full)

    def release_due(self, now: datetime) -> int:
        """Held records whose `hold_until` has passed go back to pending; return how many."""
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT INTO outbox_history SELECT idempotency_key, ?, 'pending', "
                "'released: ' || COALESCE(note, 'hold ended') FROM outbox WHERE status = 'held' "
                "AND hold_until IS NOT NULL AND hold_until <= ?",
                (utc(now), utc(now)),
            )
            cursor = conn.execute(
                "UPDATE outbox SET status = 'pending', updated_at = ? WHERE status = 'held' "
                "AND hold_until IS NOT NULL AND hold_until <= ?",
                (utc(now), utc(now)),
            )
            return int(cursor.rowcount)

    def next_release(self) -> datetime | None:
        """When the earliest timed hold ends (None: no timed holds)."""
        ((first,),) = self._db.query(
            "SELECT MIN(hold_until) FROM outbox WHERE status = 'held' AND hold_until IS NOT NULL"
        )
        return None if first is None else datetime.fromisoformat(first)

    def cancel_pending(self, contact_id: str, *, kinds: Collection[str], note: str) -> int:
        """Cancel pending and held records of a contact (e.g. follow-ups after a reply)."""
        marks = ", ".join("?" for _ in kinds)
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT INTO outbox_history SELECT idempotency_key, ?, 'cancelled', ? FROM outbox "
                f"WHERE contact_id = ? AND status IN ('pending', 'held') AND kind IN ({marks})",
                (utc(self.clock.now()), note, contact_id, *kinds),
            )
            cursor = conn.execute(
                "UPDATE outbox SET status = 'cancelled', note = ?, updated_at = ? "
                f"WHERE contact_id = ? AND status IN ('pending', 'held') AND kind IN ({marks})",
                (note, self.clock.now().isoformat(), contact_id, *kinds),
            )
            return int(cursor.rowcount)

    def approve_held(self, key: str, payload: dict[str, Any], *, note: str) -> bool:
        """A held record goes back to pending with `payload` (its approved, stamped version).

        Returns False when the record is no longer held (delivered, cancelled or forgotten).
        """
        body = json.dumps(payload, sort_keys=True, default=str)
        return self._update(
            key, only="held", status="pending", payload=body, note=note, hold_until=None
        )

    def set_status(self, key: str, status: ActionStatus, *, error: str | None = None) -> None:
        """Set a record's status by hand (e.g. after a person checked an `unknown` delivery)."""
        if status not in STATUSES:
            raise ConfigError(f"status '{status}' is not one of {', '.join(STATUSES)}")
        cleared = {"hold_until": None, "next_attempt_at": None, "lease_until": None}
        if not self._update(key, status=status, last_error=error, **cleared):
            raise ConfigError(f"no outbox record has idempotency key '{key}'")

    def redact_contact(self, contact_id: str) -> int:
        """Erase a contact from the outbox, keeping the idempotency keys.

        Payloads are replaced by `{"redacted": true}` and the contact id by a one-way
        pseudonym, so the record of what was intended stays (and a replay still cannot send
        twice) while nothing identifies the person. Returns the number of records redacted.
        """
        pseudonym = "forgotten:" + hashlib.sha256(contact_id.encode()).hexdigest()[:16]
        with self._db.transaction() as conn:
            cursor = conn.execute(
                "UPDATE outbox SET contact_id = ?, payload = ?, last_error = NULL, note = NULL, "
                "updated_at = ? WHERE contact_id = ?",
                (
                    pseudonym,
                    json.dumps({"redacted": True}),
                    self.clock.now().isoformat(),
                    contact_id,
                ),
            )
            return int(cursor.rowcount)

    def _lease_batch(
        self, now: datetime, size: int, seqs: tuple[int, int]
    ) -> list[tuple[int, OutboxRecord]]:
        """Lease up to `size` due, unleased pending records with `low < seq <= high` to this
        outbox; (seq, record) pairs, oldest first."""
        if self.batch_lease is None:
            return self._due(now, size, seqs)
        skip = " FOR UPDATE SKIP LOCKED" if self._db.dialect == "postgresql" else ""
        sql = (
            "UPDATE outbox SET lease_until = ?, lease_holder = ? WHERE idempotency_key IN ("
            "SELECT idempotency_key FROM outbox WHERE status = 'pending' AND seq > ? AND "
            "seq <= ? AND (next_attempt_at IS NULL OR next_attempt_at <= ?) AND (lease_until IS "
            f"NULL OR lease_until <= ?) ORDER BY seq LIMIT ?{skip}) RETURNING seq, {COLUMNS}"
        )
        clock = wall()
        args = (utc(clock + self.batch_lease), self.holder, *seqs, utc(now), utc(clock), size)
        with self._db.transaction() as conn:
            rows = conn.execute(sql, args).fetchall()
        return [(int(row[0]), to_record(tuple(row[1:]))) for row in sorted(rows)]

    def _renew(self) -> None:
        """The heartbeat: extend this outbox's leases on the pending records of its batch."""
        if self.batch_lease is None:
            return
        with self._db.transaction() as conn:
            conn.execute(
                "UPDATE outbox SET lease_until = ? WHERE lease_holder = ? AND status = 'pending' "
                "AND lease_until IS NOT NULL",
                (utc(wall() + self.batch_lease), self.holder),
            )

    def _due(
        self, now: datetime, size: int, seqs: tuple[int, int]
    ) -> list[tuple[int, OutboxRecord]]:
        sql = (
            f"SELECT seq, {COLUMNS} FROM outbox WHERE status = 'pending' AND seq > ? AND "
            "seq <= ? AND (next_attempt_at IS NULL OR next_attempt_at <= ?) AND (lease_until "
            "IS NULL OR lease_until <= ?) ORDER BY seq LIMIT ?"
        )
        args = (*seqs, utc(now), utc(wall()), size)
        return [(int(row[0]), to_record(tuple(row[1:]))) for row in self._db.query(sql, args)]

    def _release(self, keys: Sequence[str]) -> None:
        """Give back leased records this pass will not work on (it stopped early)."""
        if not keys or self.batch_lease is None:
            return
        marks = ", ".join("?" for _ in keys)
        with self._db.transaction() as conn:
            conn.execute(
                "UPDATE outbox SET lease_until = NULL WHERE lease_holder = ? AND status = "
                f"'pending' AND idempotency_key IN ({marks})",
                (self.holder, *keys),
            )

    def _send(
        self, record: OutboxRecord, transport: Transport, now: datetime,
        down: dict[int, DeliveryDeferred],
    ) -> str:  # fmt: skip
        if transport.internal:
            return self._apply(record, transport, now)
        key = record.action.idempotency_key
        receiver = id(transport.receiver(record))
        claim = self._claim(key, now, internal=False)
        if claim is None:
            return "skipped"
        if receiver in down:  # unavailable moments ago: leave it for a later pass
            known = down[receiver]
            error = f"not tried: the receiver was unavailable in this pass ({known})"
            return self._defer(key, claim, error, known.retry_after, now)
        try:
            transport.send(record)
        except DeliveryDeferred as exc:
            if exc.scope == "receiver":
                down[receiver] = exc
            return self._defer(key, claim, str(exc), exc.retry_after, now)
        except DeliveryFailed as exc:
            self._finish(key, "failed", error=str(exc))
            return "failed"
        except Exception as exc:
            self._finish(key, "unknown", error=f"{type(exc).__name__}: {exc}")
            return "unknown"
        self._finish(key, "sent")
        return "sent"

    def _apply(self, record: OutboxRecord, transport: Transport, now: datetime) -> str:
        """An internal effect: leased while it runs, `sent` after, never `unknown`."""
        key = record.action.idempotency_key
        claim = self._claim(key, now, internal=True)
        if claim is None:
            return "skipped"
        try:
            transport.send(record)
        except DeliveryDeferred as exc:
            return self._defer(key, claim, str(exc), exc.retry_after, now)
        except DeliveryFailed as exc:
            self._finish(key, "failed", error=str(exc))
            return "failed"
        except InputError as exc:  # the data is wrong: trying again changes nothing
            error = f"{exc}; fix the data, then `gtmflow outbox retry {key[:12]}`"
            self._finish(key, "failed", error=error)
            log.warning("outbox %s failed: %s", key[:12], error)
            return "failed"
        except Exception as exc:  # nothing left the workspace: safe to run it again later
            return self._defer(key, claim, f"{type(exc).__name__}: {exc}", None, now)
        self._finish(key, "sent", delivered_at=now)
        return "sent"

    def _claim(self, key: str, now: datetime, *, internal: bool) -> tuple[int, str] | None:
        """Take a due pending record for this pass; (attempts, first attempt) or None if gone."""
        status = "pending" if internal else "unknown"
        lease = utc(wall() + self.lease) if internal else None
        with self._db.transaction() as conn:
            row = conn.execute(
                "UPDATE outbox SET status = ?, attempts = attempts + 1, updated_at = ?, "
                "delivered_at = ?, lease_until = ?, lease_holder = ?, first_attempt_at = "
                "COALESCE(first_attempt_at, ?) WHERE idempotency_key = ? AND status = 'pending' "
                "AND (lease_until IS NULL OR lease_until <= ? OR lease_holder = ?) "
                "RETURNING attempts, first_attempt_at",
                (status, utc(now), None if internal else utc(now), lease, self.holder, utc(now),
                 key, utc(wall()), self.holder),
            ).fetchone()  # fmt: skip
            if row is None:
                return None
            log_change(conn, key, status, "applying" if internal else "delivering", utc(now))
            return int(row[0]), str(row[1])

    def _defer(
        self, key: str, claim: tuple[int, str], error: str, retry_after: float | None,
        now: datetime,
    ) -> str:  # fmt: skip
        """A transient failure: pending again until the schedule's next attempt, or failed."""
        attempts, first = claim
        age = now - datetime.fromisoformat(first)
        if age >= self.retry.max_age:
            reason = f"gave up after {attempts} attempt(s) over {span(age)}; last: {error}"
            self._finish(key, "failed", error=reason)
            return "failed"
        due = now + self.retry.wait(attempts, retry_after)
        note = f"retry at {utc(due)}: {error}"
        self._update(
            key, status="pending", last_error=error, next_attempt_at=due, delivered_at=None,
            lease_until=None, note=note,
        )  # fmt: skip
        log.warning("outbox %s: %s", key[:12], note)
        return "deferred"

    def _finish(
        self,
        key: str,
        status: str,
        *,
        error: str | None = None,
        delivered_at: datetime | None = None,
    ) -> None:
        values: dict[str, Any] = {
            "status": status, "last_error": error, "lease_until": None, "next_attempt_at": None,
        }  # fmt: skip
        if delivered_at is not None:
            values["delivered_at"] = delivered_at
        self._update(key, **values)

    def _stop(self, key: str, verdict: Verdict) -> bool:
        """Hold or cancel a pending record; False when another pass took it meanwhile."""
        status = "held" if verdict.decision == "hold" else "cancelled"
        return self._update(
            key, status=status, note=verdict.reason, hold_until=verdict.until, lease_until=None,
            only="pending",
        )  # fmt: skip

    def _update(self, key: str, *, only: str | None = None, **values: Any) -> bool:
        values = {k: utc(v) if isinstance(v, datetime) else v for k, v in values.items()}
        values["updated_at"] = utc(self.clock.now())
        assignments = ", ".join(f"{column} = ?" for column in values)
        where = "idempotency_key = ?" + (" AND status = ?" if only else "")
        with self._db.transaction() as conn:
            cursor = conn.execute(
                f"UPDATE outbox SET {assignments} WHERE {where}",
                (*values.values(), key, *([only] if only else [])),
            )
            changed = bool(cursor.rowcount == 1)
            if changed and "status" in values:
                note = values.get("note") or values.get("last_error")
                log_change(conn, key, values["status"], note, values["updated_at"])
            return changed
