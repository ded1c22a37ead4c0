"""Transports: how the outbox delivers an action to the outside world.

A transport has one method to override, `send`. What it raises tells the outbox what happened,
and the outbox never second-guesses it:

```
outcome              meaning                              outbox status   retried by
returns              the receiver accepted the action     sent            -
DeliveryDeferred     not accepted this time (transient)   pending, later  the transport within a
                                                                          pass, then the outbox
DeliveryFailed       definitely not accepted              failed          a person (outbox retry)
DeliveryUnknown      may have been accepted               unknown         never: a person decides
any other exception  may have been accepted               unknown         never
```

`DeliveryDeferred` is a `DeliveryFailed`: the transport retries it a few times within one
delivery pass (bounded, exponential backoff with jitter, seconds apart, see `RetryPolicy`) and
raises `DeliveryDeferred` again once those run out, or at once when the receiver asks for a
longer pause than `RetryPolicy.max_backoff`. The outbox then owns the retry: the record goes back
to pending for minutes to hours (`gtmflow.tools.delivery.retry_schedule`), until a max age.
Each retry has one owner at each time scale, and every attempt carries the same idempotency key.

How the network transports classify failures (`gtmflow.tools.delivery.smtp`,
`gtmflow.tools.delivery.webhook`).
The rule: before the receiver could have taken the message it is safe to try again; after the
whole message was handed over and while its answer is awaited, it is not.

```
SMTP phase                         failure                                     outcome
before any I/O                     no recipient address, no subject or body    failed
connect, greeting, EHLO, STARTTLS  refused, DNS, timeout, reset, 4xx reply     deferred
                                   certificate rejected, 5xx, no STARTTLS      failed
AUTH                               4xx (e.g. 454)                              deferred
                                   5xx (e.g. 535 bad credentials)              failed
MAIL FROM, RCPT TO, DATA command   timeout, disconnect, 4xx reply              deferred
                                   5xx reply                                   failed
writing the message and its "."   timeout, disconnect                         deferred (a server
                                                                               drops a message
                                                                               without its ".")
awaiting the reply to "."          timeout, disconnect, garbled reply          UNKNOWN
                                   2xx / 4xx / 5xx                             sent / deferred /
                                                                               failed

Webhook phase                      failure                                     outcome
before any I/O                     nothing to send, bad header value           failed
connect (TCP, TLS)                 refused, DNS, timeout, reset                deferred
                                   certificate rejected                        failed
writing the request                timeout, reset (body shorter than its       deferred
                                   Content-Length: never processed)
awaiting the status line           timeout, reset, closed, garbled             UNKNOWN
status                             2xx                                         sent
                                   408, 425, 429, 5xx (Retry-After honoured:   deferred
                                   a longer one ends the pass's retries)
                                   3xx (never followed), other 4xx             failed
```

A 5xx may follow partial work on the receiver's side; the `Idempotency-Key` header (and the
SMTP `Message-ID`) carry the action's idempotency key so the receiver can drop a repeat.
"""

from __future__ import annotations

import json
import logging
import random
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, ClassVar, Literal, Self, TextIO, TypeVar

from tenacity import (
    RetryCallState,
    RetryError,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
)

from gtmflow.errors import ConfigError, RunError

if TYPE_CHECKING:
    from gtmflow.tools.delivery.outbox import OutboxRecord

__all__ = [
    "ConsoleTransport",
    "DeliveryDeferred",
    "DeliveryFailed",
    "DeliveryUnknown",
    "FileTransport",
    "RecordingTransport",
    "RetryPolicy",
    "RoutingTransport",
    "Transport",
    "deliver_with_retries",
    "nothing_sent",
]

T = TypeVar("T")
log = logging.getLogger("gtmflow.delivery")


class DeliveryFailed(RunError):
    """The receiver definitely did not accept the action; it may be retried."""


class DeliveryDeferred(DeliveryFailed):
    """The receiver did not accept the action this time; trying again soon may succeed.

    Args:
        message: What happened, without secrets.
        retry_after: Seconds the receiver asked us to wait (e.g. HTTP `Retry-After`), if any.
        scope: `"receiver"` when the whole receiver is unavailable (refused connection, 429,
            503, an SMTP session refused): the outbox then leaves that receiver's other records
            for a later pass instead of trying each; `"message"` when only this one was refused.
    """

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        scope: Literal["message", "receiver"] = "message",
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.scope = scope


class DeliveryUnknown(RunError):
    """The action may have been delivered (e.g. a timeout after it was sent); never resend it."""


class Transport(ABC):
    """Delivers outbox records. Subclasses override `send`; see the module docstring."""

    name: str = "transport"
    internal: ClassVar[bool] = False
    """True for effects with no outside receiver (e.g. enroll): `send` must then be idempotent
    by the record's idempotency key, and the outbox never marks such a record `unknown`."""

    @abstractmethod
    def send(self, record: OutboxRecord) -> None:
        """Deliver one record or raise; see the module docstring for what exceptions mean."""

    def close(self) -> None:
        """Release connections the transport keeps open (the default keeps none)."""
        return None

    def receiver(self, record: OutboxRecord) -> Transport:
        """The transport that will deliver `record` (a router answers with the routed one)."""
        return self

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class ConsoleTransport(Transport):
    """Prints one line per action; the default while no real channel is configured."""

    name = "console"

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream

    def send(self, record: OutboxRecord) -> None:
        a = record.action
        line = f"[{a.kind}] {a.contact_id} ← {a.source} {json.dumps(a.payload, sort_keys=True)}"
        print(line, file=self._stream)


class FileTransport(Transport):
    """Appends each action as one JSON line to a file (an audit trail, or a hand-off)."""

    name = "file"

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def send(self, record: OutboxRecord) -> None:
        line = json.dumps(record.to_json(), sort_keys=True, default=str)
        with self._lock:
            try:  # nothing is written unless the file opens: safe to call it failed
                self.path.parent.mkdir(parents=True, exist_ok=True)
                handle = self.path.open("a", encoding="utf-8")
            except OSError as exc:
                raise DeliveryFailed(f"cannot open '{self.path}' for appending ({exc})") from exc
            with handle:
                handle.write(line + "\n")
                handle.flush()

    def __repr__(self) -> str:
        return f"FileTransport({str(self.path)!r})"


class RecordingTransport(Transport):
    """Keeps delivered records in memory; for tests and the simulator."""

    name = "recording"

    def __init__(self) -> None:
        self.sent: list[OutboxRecord] = []

    def send(self, record: OutboxRecord) -> None:
        self.sent.append(record)


class RoutingTransport(Transport):
    """Sends each action through the transport its kind is routed to.

    Args:
        routes: Action kind → transport, e.g. `{"send_email": smtp, "alert_sales": slack}`.
        default: Transport for kinds without a route; without one such actions fail.

    Example:
        >>> audit = RecordingTransport()
        >>> router = RoutingTransport({"alert_sales": audit}, default=ConsoleTransport())
        >>> router.route("alert_sales") is audit, router.route("enroll").name
        (True, 'console')
    """

    name = "routing"

    def __init__(
        self, routes: Mapping[str, Transport], *, default: Transport | None = None
    ) -> None:
        self.routes = dict(routes)
        self.default = default

    def route(self, kind: str) -> Transport:
        """The transport that delivers actions of `kind`; `DeliveryFailed` if there is none."""
        transport = self.routes.get(kind, self.default)
        if transport is None:
            raise DeliveryFailed(
                f"no transport delivers action kind '{kind}'; route it under "
                f'[transports.routes] (e.g. {kind} = "file") or set a default'
            )
        return transport

    def send(self, record: OutboxRecord) -> None:
        self.route(record.action.kind).send(record)

    def receiver(self, record: OutboxRecord) -> Transport:
        """The routed transport's receiver (this router when no route takes the kind)."""
        transport = self.routes.get(record.action.kind, self.default)
        return transport.receiver(record) if transport is not None else self

    def close(self) -> None:
        """Close every transport routed to, each once."""
        unique = {id(t): t for t in [*self.routes.values(), self.default] if t is not None}
        for transport in unique.values():
            transport.close()

    def __repr__(self) -> str:
        routes = ", ".join(f"{kind}={t.name}" for kind, t in sorted(self.routes.items()))
        default = self.default.name if self.default else None
        return f"RoutingTransport({routes or 'no routes'}; default={default})"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How a transport retries deferred deliveries: bounded, exponential, jittered.

    The wait before retry n (1-based) is `backoff * 2**(n-1)` plus up to `backoff` of random
    jitter, raised to a receiver's `Retry-After` and capped at `max_backoff` seconds.

    Args:
        attempts: Total tries, the first included (1 = never retry).
        backoff: Seconds before the first retry, and the jitter range.
        max_backoff: Longest single wait, in seconds.
    """

    attempts: int = 3
    backoff: float = 0.5
    max_backoff: float = 8.0

    def __post_init__(self) -> None:
        if self.attempts < 1 or self.backoff < 0 or self.max_backoff < self.backoff:
            raise ConfigError(
                f"retry policy attempts={self.attempts}, backoff={self.backoff}, "
                f"max_backoff={self.max_backoff} is not valid; attempts must be >= 1 and "
                "0 <= backoff <= max_backoff"
            )

    def retrying(self) -> Retrying:
        """A tenacity `Retrying` with this policy's stop and wait."""
        return Retrying(stop=stop_after_attempt(self.attempts), wait=self.wait)

    def wait(self, state: RetryCallState) -> float:
        """Seconds to wait after failed attempt `state.attempt_number`."""
        growth = 2.0 ** min(state.attempt_number - 1, 30)
        delay = self.backoff * growth + random.uniform(0, self.backoff)
        error = state.outcome.exception() if state.outcome else None
        hint = error.retry_after if isinstance(error, DeliveryDeferred) else None
        return min(max(delay, hint or 0.0), self.max_backoff)


def deliver_with_retries(
    attempt: Callable[[], T], /, *, retry: RetryPolicy | Retrying, what: str
) -> T:
    """Call `attempt` until it returns, raises anything but `DeliveryDeferred`, or tries run out.

    Args:
        attempt: One delivery attempt.
        retry: A `RetryPolicy`, or a tenacity `Retrying` whose stop and wait are used as given.
        what: Names the receiver in logs and errors (never a secret), e.g. `"smtp 'host:587'"`.

    Raises:
        DeliveryDeferred: The last attempt was deferred too (the message says how many were
            made; `retry_after` is the receiver's last request): the outbox tries again later.
    """
    base = retry.retrying() if isinstance(retry, RetryPolicy) else retry
    stop = base.stop
    if isinstance(retry, RetryPolicy):
        stop = _or_asks_longer_than(base.stop, retry.max_backoff)
    retrying = base.copy(
        retry=retry_if_exception_type(DeliveryDeferred),
        stop=stop,
        reraise=False,
        before_sleep=lambda state: _log_retry(state, what),
    )
    try:
        return retrying(attempt)
    except RetryError as exc:
        last = exc.last_attempt
        error = last.exception()
        deferred = error if isinstance(error, DeliveryDeferred) else None
        raise DeliveryDeferred(
            f"{what}: deferred {last.attempt_number} time(s) in a row; last: "
            f"{_detail(error, what)}",
            retry_after=deferred.retry_after if deferred else None,
            scope=deferred.scope if deferred else "message",
        ) from error


def _or_asks_longer_than(
    stop: Callable[[RetryCallState], bool], longest: float
) -> Callable[[RetryCallState], bool]:
    """`stop`, or: the receiver asked for a pause longer than `longest` (leave it to the outbox)."""

    def stop_now(state: RetryCallState) -> bool:
        error = state.outcome.exception() if state.outcome else None
        hint = error.retry_after if isinstance(error, DeliveryDeferred) else None
        return stop(state) or (hint is not None and hint > longest)

    return stop_now


def _log_retry(state: RetryCallState, what: str) -> None:
    error = state.outcome.exception() if state.outcome else None
    pause = state.next_action.sleep if state.next_action else 0.0
    log.warning(
        "%s: attempt %d deferred (%s); retrying in %.2f s",
        what,
        state.attempt_number,
        _detail(error, what),
        pause,
    )


def _detail(error: BaseException | None, what: str) -> str:
    """The error's message without the receiver's name when it starts with it."""
    return str(error).removeprefix(f"{what}: ").removeprefix(f"{what} ")


@contextmanager
def nothing_sent(what: str) -> Iterator[None]:
    """Run code that prepares a delivery: any error in it is a `DeliveryFailed`, never unknown.

    Building a message touches no network, so whatever goes wrong there (a contact lookup, a
    payload that cannot be encoded) cannot have reached the receiver.
    """
    try:
        yield
    except DeliveryFailed:
        raise
    except Exception as exc:
        raise DeliveryFailed(f"{what}: {describe_error(exc)}") from exc


def describe_error(exc: BaseException) -> str:
    """`Type: message` of an exception, for delivery errors (its cause chain is left out)."""
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def one_line(value: bytes | str, limit: int = 200) -> str:
    """A server's reply as one short line of text, for error messages."""
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
    return " ".join(text.split())[:limit]
