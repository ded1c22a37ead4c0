"""Webhook delivery: one JSON POST per action, Slack-compatible for sales alerts.

Built on the standard library's `http.client`, one connection per attempt, so each phase of a
request (connect, send, await the answer) fails in its own way and is classified exactly (table
in `gtmflow.tools.delivery.transports`); redirects are never followed and no proxy is used.

Every request carries `Idempotency-Key` (the action's key) and, with a secret, a signature:
`X-Gtmflow-Timestamp: <unix seconds>` and `X-Gtmflow-Signature: sha256=<hex>`, the HMAC-SHA256
of `"<timestamp>." + body` (`verify_signature` checks one). The URL may itself be a secret (a
Slack webhook URL is): logs, errors and `repr` show only its scheme, host and port.

Bodies: `format="json"` sends the action (`idempotency_key`, `kind`, `contact_id`, `rule`,
`graph`, `step`, `created_at`, `payload`); `format="slack"` sends Slack's `text` + `blocks`.
"""

from __future__ import annotations

import email.utils
import hashlib
import hmac
import http.client
import json
import re
import ssl
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from pydantic import SecretStr
from tenacity import Retrying

from gtmflow.clock import Clock, SystemClock
from gtmflow.errors import ConfigError
from gtmflow.models import Action
from gtmflow.tools.delivery.transports import (
    DeliveryDeferred,
    DeliveryFailed,
    DeliveryUnknown,
    RetryPolicy,
    Transport,
    deliver_with_retries,
    describe_error,
    nothing_sent,
    one_line,
)

if TYPE_CHECKING:
    from gtmflow.tools.delivery.outbox import OutboxRecord

__all__ = [
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "WebhookFormat",
    "WebhookTransport",
    "json_envelope",
    "sign",
    "slack_message",
    "verify_signature",
]

WebhookFormat = Literal["json", "slack"]
SIGNATURE_HEADER = "X-Gtmflow-Signature"
TIMESTAMP_HEADER = "X-Gtmflow-Timestamp"
RETRYABLE_STATUS = frozenset({408, 425, 429})
_RESERVED = frozenset(
    h.lower()
    for h in ("Host", "Content-Type", "Content-Length", "Idempotency-Key", "Authorization")
) | {SIGNATURE_HEADER.lower(), TIMESTAMP_HEADER.lower()}
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_HEADER_VALUE = re.compile(r"[\t\x20-\x7e]*")
_SLACK_TEXT_LIMIT = 3000


class WebhookTransport(Transport):
    """POSTs each action as JSON to one URL; see the module docstring for headers and bodies.

    Args:
        url: `http://` or `https://` endpoint; kept as a `SecretStr`.
        format: `"json"` (the action) or `"slack"` (`text` + `blocks`).
        secret: Signs each request (see `sign`); never shown.
        token: Sent as `Authorization: Bearer <token>`; never shown.
        headers: Extra, non-secret headers (e.g. `{"X-Source": "gtmflow"}`).
        describe: Contact id → a human label for Slack messages (name, company, email).
        timeout: Seconds to wait for the answer once the request is sent.
        connect_timeout: Seconds to connect (TCP and TLS).
        retry: How deferred deliveries are retried.
        clock: Supplies the signature timestamp.
        ssl_context: TLS settings; default: the system's trusted certificates.
    """

    name = "webhook"

    def __init__(
        self,
        url: str | SecretStr,
        *,
        format: WebhookFormat = "json",
        secret: str | SecretStr | None = None,
        token: str | SecretStr | None = None,
        headers: Mapping[str, str] | None = None,
        describe: Callable[[str], str | None] | None = None,
        timeout: float = 10.0,
        connect_timeout: float = 5.0,
        retry: RetryPolicy | Retrying | None = None,
        clock: Clock | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._url = SecretStr(url) if isinstance(url, str) else url
        self.endpoint, self._host, self._port, self._target = _parse_url(self._url)
        if format not in ("json", "slack"):
            raise ConfigError(f"webhook format '{format}' is not one of json, slack")
        if timeout <= 0 or connect_timeout <= 0:
            raise ConfigError("webhook 'timeout' and 'connect_timeout' must be positive seconds")
        self.format: WebhookFormat = format
        self._secret = SecretStr(secret) if isinstance(secret, str) else secret
        self._token = SecretStr(token) if isinstance(token, str) else token
        self._headers = _check_headers(headers or {})
        self._describe, self._timeout, self._connect_timeout = describe, timeout, connect_timeout
        self._retry = retry or RetryPolicy()
        self._clock = clock or SystemClock()
        https = self.endpoint.startswith("https:")
        self._ssl = ssl_context or (ssl.create_default_context() if https else None)

    def __repr__(self) -> str:
        signed = ", signed" if self._secret else ""
        return f"WebhookTransport({self.endpoint!r}, format={self.format!r}{signed})"

    @property
    def what(self) -> str:
        """How logs and errors name this endpoint (never its path, which may be a secret)."""
        return f"webhook '{self.endpoint}'"

    def send(self, record: OutboxRecord) -> None:
        """POST the record, retrying deferred attempts; see the module docstring."""
        with nothing_sent(f"cannot build the request for contact '{record.action.contact_id}'"):
            body = self.body(record.action)
        key = record.action.idempotency_key
        if not _HEADER_VALUE.fullmatch(key):
            raise DeliveryFailed(f"idempotency key {key!r} cannot be sent as a header")
        deliver_with_retries(lambda: self._attempt(body, key), retry=self._retry, what=self.what)

    def body(self, action: Action) -> bytes:
        """The JSON body sent for an action."""
        if self.format == "slack":
            label = self._describe(action.contact_id) if self._describe else None
            data = slack_message(action, label=label)
        else:
            data = json_envelope(action)
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False, default=str).encode()

    def _request_headers(self, body: bytes, key: str) -> dict[str, str]:
        headers = dict(self._headers)
        headers |= {"Content-Type": "application/json", "Idempotency-Key": key}
        headers.setdefault("User-Agent", "gtmflow-webhook/1")
        if self._token is not None:
            headers["Authorization"] = f"Bearer {self._token.get_secret_value()}"
        if self._secret is not None:
            stamp = int(self._clock.now().timestamp())
            headers[TIMESTAMP_HEADER] = str(stamp)
            headers[SIGNATURE_HEADER] = sign(self._secret.get_secret_value(), stamp, body)
        return headers

    def _attempt(self, body: bytes, key: str) -> None:
        headers = self._request_headers(body, key)
        connection = self._connect()
        try:
            status, retry_after, snippet = self._exchange(connection, body, headers)
        finally:
            connection.close()
        self._check(status, retry_after, snippet)

    def _connect(self) -> http.client.HTTPConnection:
        connection = (
            http.client.HTTPSConnection(
                self._host, self._port, timeout=self._connect_timeout, context=self._ssl
            )
            if self._ssl is not None
            else http.client.HTTPConnection(self._host, self._port, timeout=self._connect_timeout)
        )
        try:
            connection.connect()
        except ssl.SSLCertVerificationError as exc:
            connection.close()
            raise DeliveryFailed(
                f"{self.what}: TLS certificate rejected ({exc.verify_message}); check the url "
                "and 'ca_file'"
            ) from None
        except OSError as exc:
            connection.close()
            raise DeliveryDeferred(
                f"{self.what}: cannot connect ({describe_error(exc)})", scope="receiver"
            ) from None
        assert connection.sock is not None
        connection.sock.settimeout(self._timeout)
        return connection

    def _exchange(
        self, connection: http.client.HTTPConnection, body: bytes, headers: dict[str, str]
    ) -> tuple[int, str | None, str]:
        try:
            connection.request("POST", self._target, body=body, headers=headers)
        except (OSError, http.client.HTTPException) as exc:
            raise DeliveryDeferred(
                f"{self.what}: connection lost while sending the request ({describe_error(exc)})"
            ) from None
        try:
            response = connection.getresponse()
        except (OSError, http.client.HTTPException) as exc:
            raise DeliveryUnknown(
                f"{self.what}: no answer after the request was sent ({describe_error(exc)}); "
                "it may have been accepted, so it is not resent: check the receiver, then set "
                "the status by hand"
            ) from None
        try:
            snippet = response.read(512)
        except (OSError, http.client.HTTPException):
            snippet = b""  # the status line already decided the outcome
        return response.status, response.getheader("Retry-After"), one_line(snippet)

    def _check(self, status: int, retry_after: str | None, snippet: str) -> None:
        if 200 <= status < 300:
            return
        detail = f"{self.what} answered {status}" + (f": {snippet}" if snippet else "")
        if status in RETRYABLE_STATUS or 500 <= status < 600:
            wait = _retry_after(retry_after, self._clock.now())
            whole = status in (429, 503)  # rate limited or unavailable: not just this request
            raise DeliveryDeferred(
                detail, retry_after=wait, scope="receiver" if whole else "message"
            )
        if 300 <= status < 400:
            raise DeliveryFailed(f"{detail}; redirects are not followed: update the url")
        if 400 <= status < 500:
            raise DeliveryFailed(detail)
        raise DeliveryUnknown(f"{detail}; an unexpected status, so it is not resent")


def json_envelope(action: Action) -> dict[str, Any]:
    """The `format="json"` body: the action and where it came from."""
    return {
        "idempotency_key": action.idempotency_key,
        "kind": action.kind,
        "contact_id": action.contact_id,
        "rule": action.source,
        "graph": action.graph,
        "step": action.step,
        "created_at": action.created_at.isoformat(),
        "payload": action.payload,
    }


def slack_message(action: Action, *, label: str | None = None) -> dict[str, Any]:
    """The `format="slack"` body: `text` (the notification) and `blocks` (the message).

    Untrusted text (the alert message, the contact label) is escaped, so it cannot mention
    `@channel` or forge links.

    Example:
        >>> from datetime import UTC, datetime
        >>> act = Action(kind="alert_sales", contact_id="c-42", graph="g", source="pricing-hot",
        ...              payload={"message": "3 pricing views <!channel>"},
        ...              created_at=datetime(2026, 1, 1, tzinfo=UTC))
        >>> slack_message(act, label="Ada (Acme)")["text"]
        "Sales alert: Ada (Acme), rule 'pricing-hot': 3 pricing views &lt;!channel&gt;"
    """
    payload = action.payload
    title = "Sales alert" if action.kind == "alert_sales" else action.kind.replace("_", " ")
    who = _slack_escape(label or action.contact_id)
    message = payload.get("message")
    if action.kind != "alert_sales" and message is None:
        message = json.dumps(payload, sort_keys=True, default=str) if payload else None
    note = _slack_escape(str(message)) if message is not None else ""
    text = f"{title}: {who}, rule '{action.source}'" + (f": {note}" if note else "")
    context = [f"rule `{action.source}`", f"contact `{_slack_escape(action.contact_id)}`"]
    if isinstance(payload.get("channel"), str):
        context.append(f"#{_slack_escape(payload['channel'])}")
    section = f"*{title}*: {who}" + (f"\n{note}" if note else "")
    return {
        "text": text[:_SLACK_TEXT_LIMIT],
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": section[:_SLACK_TEXT_LIMIT]}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(context)}]},
        ],
    }


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header value: `sha256=` + hex HMAC-SHA256 of `"<timestamp>." + body`.

    Example:
        >>> sign("s3cret", 1767225600, b'{"kind":"alert_sales"}')[:15]
        'sha256=7b861974'
    """
    message = f"{timestamp}.".encode() + body
    return "sha256=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def verify_signature(
    secret: str,
    body: bytes,
    *,
    timestamp: str,
    signature: str,
    now: datetime,
    tolerance: timedelta = timedelta(minutes=5),
) -> bool:
    """Whether a received webhook is genuine and fresh; for receivers (and tests).

    Args:
        secret: The shared secret.
        body: The raw request body, as received.
        timestamp: The `X-Gtmflow-Timestamp` header.
        signature: The `X-Gtmflow-Signature` header.
        now: The receiver's current time.
        tolerance: Oldest (or furthest in the future) timestamp accepted, against replays.
    """
    if not timestamp.isdigit():
        return False
    age = abs(now.timestamp() - int(timestamp))
    expected = sign(secret, int(timestamp), body)
    return age <= tolerance.total_seconds() and hmac.compare_digest(expected, signature)


def _parse_url(url: SecretStr) -> tuple[str, str, int, str]:
    """(shown endpoint, host, port, request target); ConfigError without echoing the url."""
    parts = urlsplit(url.get_secret_value())
    try:
        port = parts.port
    except ValueError:
        port = -1
    if parts.scheme not in ("http", "https") or not parts.hostname or port == -1:
        raise ConfigError(
            "webhook url must look like 'https://host/path' (scheme http or https, a host, an "
            "optional numeric port); the url is not shown because it may be a secret"
        )
    if parts.username or parts.password:
        raise ConfigError("webhook url must not carry 'user:password@'; use 'token_env' instead")
    port = port or (443 if parts.scheme == "https" else 80)
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return f"{parts.scheme}://{host}:{port}", parts.hostname, port, target


def _check_headers(headers: Mapping[str, str]) -> dict[str, str]:
    for name, value in headers.items():
        if not _TOKEN.fullmatch(name) or not _HEADER_VALUE.fullmatch(str(value)):
            raise ConfigError(f"webhook header '{name}' is not a valid HTTP header name and value")
        if name.lower() in _RESERVED:
            raise ConfigError(
                f"webhook header '{name}' is set by gtmflow; use 'token_env' for Authorization "
                "and 'secret_env' for signatures"
            )
    return {name: str(value) for name, value in headers.items()}


def _retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds from a `Retry-After` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - now).total_seconds()) if when.tzinfo else None


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
