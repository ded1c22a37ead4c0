"""Email delivery over SMTP with the standard library's `smtplib`.

One outbox record becomes one email. The recipient is always the contact's own address, looked up
by contact id through an injected function; the payload (which may hold model-written text) only
supplies `subject`, `body` and an optional `html` alternative, and can never redirect the mail:
`to`, `cc`, `bcc`, `from` or headers in it are ignored. The `Message-ID` is built from the action's
idempotency key, so a receiving system can recognise a repeat. How each failure is classified
(deferred and retried, failed, or unknown) is tabled in `gtmflow.tools.delivery.transports`.

The connection is kept open between sends (checked with `NOOP` before reuse) and closed by
`close()`; use the transport as a context manager.
"""

from __future__ import annotations

import email.utils
import hashlib
import logging
import re
import smtplib
import ssl
import threading
from collections.abc import Callable, Mapping
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from typing import TYPE_CHECKING, Any, Literal, NoReturn

from pydantic import SecretStr
from tenacity import Retrying

from gtmflow.clock import Clock, SystemClock
from gtmflow.errors import ConfigError
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

__all__ = ["SMTPTransport", "Security", "message_id"]

Security = Literal["none", "starttls", "ssl"]
DEFAULT_PORTS: Mapping[str, int] = {"none": 25, "starttls": 587, "ssl": 465}
IGNORED_FIELDS = ("to", "cc", "bcc", "from", "reply_to", "sender", "headers")

log = logging.getLogger("gtmflow.delivery")
# 7-bit transfer encodings need no 8BITMIME from the server; CRLF line endings as SMTP wants.
_POLICY = SMTP_POLICY.clone(cte_type="7bit")
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_DOT_ATOM = re.compile(rf"{_ATEXT}(?:\.{_ATEXT})*")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_DOMAIN = re.compile(rf"{_LABEL}(?:\.{_LABEL})+")
_LINE_START_DOT = re.compile(rb"(?m)^\.")


class SMTPTransport(Transport):
    """Sends each action as one email to its contact over SMTP.

    Args:
        host: SMTP server, e.g. `"smtp.example.com"`.
        sender: The From header, e.g. `"Acme Sales <sales@acme.example>"`.
        recipient: Contact id → that contact's email address (`None` if it has none).
        port: Defaults by `security`: 25 (`"none"`), 587 (`"starttls"`), 465 (`"ssl"`).
        security: `"starttls"` upgrades a plain connection, `"ssl"` is TLS from the start.
        username: Log in with this user (needs `password` and TLS).
        password: The password; kept as a `SecretStr`, never shown.
        reply_to: Optional Reply-To header.
        message_id_domain: Right-hand side of `Message-ID`; default: the sender's domain.
        timeout: Seconds for connecting and for each reply.
        retry: How deferred deliveries are retried.
        clock: Supplies the `Date` header.
        ssl_context: TLS settings; default: the system's trusted certificates.
    """

    name = "smtp"

    def __init__(
        self,
        *,
        host: str,
        sender: str,
        recipient: Callable[[str], str | None],
        port: int | None = None,
        security: Security = "starttls",
        username: str | None = None,
        password: str | SecretStr | None = None,
        reply_to: str | None = None,
        message_id_domain: str | None = None,
        timeout: float = 10.0,
        retry: RetryPolicy | Retrying | None = None,
        clock: Clock | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._check_options(host, security, username, password, timeout)
        self.host, self.security, self.username = host, security, username
        self.port = port or DEFAULT_PORTS[security]
        self.sender = sender
        self._sender_address = _address_of(sender, "sender")
        if reply_to is not None:
            _address_of(reply_to, "reply_to")
        self._reply_to = reply_to
        self.domain = message_id_domain or self._sender_address.rpartition("@")[2]
        if not _DOMAIN.fullmatch(self.domain):
            raise ConfigError(f"message_id_domain '{self.domain}' is not a domain like 'acme.io'")
        self._password = SecretStr(password) if isinstance(password, str) else password
        self._recipient, self._timeout = recipient, timeout
        self._retry = retry or RetryPolicy()
        self._clock = clock or SystemClock()
        self._ssl = ssl_context or (ssl.create_default_context() if security != "none" else None)
        self._smtp: smtplib.SMTP | None = None
        self._lock = threading.Lock()

    @staticmethod
    def _check_options(
        host: str, security: str, user: str | None, password: object, timeout: float
    ) -> None:
        if not host:
            raise ConfigError("SMTP 'host' is empty; set it to your server, e.g. 'smtp.acme.io'")
        if security not in DEFAULT_PORTS:
            raise ConfigError(f"SMTP security '{security}' is not one of none, starttls, ssl")
        if (user is None) != (password is None):
            raise ConfigError("SMTP login needs both 'username' and a password, or neither")
        if user is not None and security == "none":
            raise ConfigError(
                "SMTP login with security 'none' would send the password in clear text; "
                "use security 'starttls' (port 587) or 'ssl' (port 465)"
            )
        if timeout <= 0:
            raise ConfigError(f"SMTP timeout {timeout} must be a positive number of seconds")

    def __repr__(self) -> str:
        user = f", username={self.username!r}" if self.username else ""
        return (
            f"SMTPTransport(host={self.host!r}, port={self.port}, security={self.security!r}"
            f"{user}, sender={self.sender!r})"
        )

    @property
    def what(self) -> str:
        """How logs and errors name this server."""
        return f"smtp '{self.host}:{self.port}'"

    def send(self, record: OutboxRecord) -> None:
        """Send the record's email, retrying deferred attempts; see the module docstring."""
        with nothing_sent(f"cannot build the email for contact '{record.action.contact_id}'"):
            message = self.compose(record)
            data = _wire_bytes(message)
        to = str(message["To"])
        with self._lock:
            deliver_with_retries(lambda: self._attempt(to, data), retry=self._retry, what=self.what)

    def compose(self, record: OutboxRecord) -> EmailMessage:
        """The email for a record, as it will be sent; `DeliveryFailed` if it cannot be built."""
        action = record.action
        to = self._recipient_of(action.contact_id)
        subject, body, html = _content(action.payload, action.kind)
        message = EmailMessage(policy=_POLICY)
        message["From"] = self.sender
        message["To"] = to
        if self._reply_to:
            message["Reply-To"] = self._reply_to
        message["Subject"] = subject
        message["Date"] = email.utils.format_datetime(self._clock.now())
        message["Message-ID"] = message_id(action.idempotency_key, self.domain)
        message.set_content(body)
        if html is not None:
            message.add_alternative(html, subtype="html")
        return message

    def close(self) -> None:
        """Say QUIT and close the kept connection, if any."""
        with self._lock:
            self._drop(polite=True)

    def _recipient_of(self, contact_id: str) -> str:
        address = self._recipient(contact_id)
        if not address:
            raise DeliveryFailed(
                f"contact '{contact_id}' has no email address (or is not in this workspace); "
                "add one (e.g. `gtmflow ingest contacts FILE`) or route this kind elsewhere"
            )
        if not _is_address(address):
            raise DeliveryFailed(
                f"contact '{contact_id}' has an email address this transport cannot send to; "
                "it needs a plain ASCII address such as 'name@example.com'"
            )
        return address

    def _attempt(self, to: str, data: bytes) -> None:
        smtp = self._connection()
        try:
            self._transact(smtp, to, data)
        except BaseException:
            self._drop(polite=False)
            raise

    def _connection(self) -> smtplib.SMTP:
        if self._smtp is not None:
            try:
                if self._smtp.noop()[0] == 250:
                    return self._smtp
            except (smtplib.SMTPException, OSError):
                pass
            self._drop(polite=False)
        self._smtp = self._open()
        return self._smtp

    def _open(self) -> smtplib.SMTP:
        smtp: smtplib.SMTP | None = None
        try:
            if self.security == "ssl":
                smtp = smtplib.SMTP_SSL(
                    self.host, self.port, timeout=self._timeout, context=self._ssl
                )
            else:
                smtp = smtplib.SMTP(self.host, self.port, timeout=self._timeout)
            smtp.ehlo_or_helo_if_needed()
            if self.security == "starttls":
                smtp.starttls(context=self._ssl)
                smtp.ehlo()
            if self.username is not None and self._password is not None:
                smtp.login(self.username, self._password.get_secret_value())
        except BaseException as exc:
            if smtp is not None:
                smtp.close()
            if isinstance(exc, Exception):
                self._raise_for_session(exc)
            raise
        return smtp

    def _raise_for_session(self, exc: Exception) -> NoReturn:
        what = self.what
        if isinstance(exc, smtplib.SMTPAuthenticationError):
            hint = "check 'username' and the password in its environment variable"
            raise _by_code(
                exc.smtp_code, f"{what} refused the login ({_reply(exc)}); {hint}", "receiver"
            )
        if isinstance(exc, smtplib.SMTPNotSupportedError):
            raise DeliveryFailed(
                f"{what}: {one_line(str(exc))} check 'security' (465 = 'ssl', 587 = 'starttls') "
                "and the login"
            ) from None
        if isinstance(exc, ssl.SSLCertVerificationError):
            raise DeliveryFailed(
                f"{what}: TLS certificate rejected ({exc.verify_message}); check 'host' and "
                "'ca_file'"
            ) from None
        if isinstance(exc, smtplib.SMTPResponseException):
            raise _by_code(exc.smtp_code, f"{what} refused the session ({_reply(exc)})", "receiver")
        if isinstance(exc, (smtplib.SMTPException, OSError)):
            raise DeliveryDeferred(
                f"{what}: cannot connect ({describe_error(exc)})", scope="receiver"
            ) from None
        raise DeliveryFailed(f"{what}: session setup failed ({describe_error(exc)})") from exc

    def _transact(self, smtp: smtplib.SMTP, to: str, data: bytes) -> None:
        try:
            _expect(smtp.mail(self._sender_address), "MAIL FROM", self.what)
            _expect(smtp.rcpt(to), "RCPT TO", self.what)
            _expect(smtp.docmd("DATA"), "DATA", self.what, ok=(354,))
            smtp.send(data)
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            raise DeliveryDeferred(
                f"{self.what}: connection lost before the message was complete "
                f"({describe_error(exc)})"
            ) from None
        try:
            code, text = smtp.getreply()
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryUnknown(
                f"{self.what}: no reply after the message was sent ({describe_error(exc)}); it may "
                "have been accepted, so it is not resent: check the mailbox, then set the "
                "status by hand"
            ) from None
        if 200 <= code < 300:
            return
        if code < 400 or code >= 600:
            raise DeliveryUnknown(f"{self.what}: unexpected reply {code} to the message")
        raise _by_code(code, f"{self.what} refused the message ({code} {one_line(text)})")

    def _drop(self, *, polite: bool) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        try:
            if polite:
                smtp.quit()
        except (smtplib.SMTPException, OSError):
            pass
        finally:
            smtp.close()


def message_id(key: str, domain: str) -> str:
    """The `Message-ID` of the email sent for idempotency key `key`: `<key@domain>`.

    A key that is not a valid left-hand side (RFC 5322 dot-atom) is replaced by `k.` and a
    hash of it, so every key still maps to one stable, well-formed id.

    Example:
        >>> message_id("3f2a9c", "acme.example")
        '<3f2a9c@acme.example>'
        >>> message_id("has space", "acme.example")
        '<k.47b5c36fc0b017ba576f10f988d0cbcb@acme.example>'
    """
    local = (
        key if _DOT_ATOM.fullmatch(key) else "k." + hashlib.sha256(key.encode()).hexdigest()[:32]
    )
    return f"<{local}@{domain}>"


def _content(payload: Mapping[str, Any], kind: str) -> tuple[str, str, str | None]:
    subject, body, html = payload.get("subject"), payload.get("body"), payload.get("html")
    if not isinstance(subject, str) or not subject.strip():
        raise DeliveryFailed(f"'{kind}' payload has no 'subject' text; an email needs one")
    if not isinstance(body, str) or not body.strip():
        raise DeliveryFailed(f"'{kind}' payload has no 'body' text (plain text; 'html' optional)")
    if html is not None and not isinstance(html, str):
        raise DeliveryFailed(f"'{kind}' payload 'html' must be text, got {type(html).__name__}")
    ignored = sorted(k for k in payload if k.lower() in IGNORED_FIELDS)
    if ignored:
        log.warning(
            "'%s' payload field(s) %s ignored: the recipient is always the contact and "
            "headers come from the transport",
            kind,
            ", ".join(f"'{k}'" for k in ignored),
        )
    return " ".join(subject.split()), body, html


def _wire_bytes(message: EmailMessage) -> bytes:
    """The DATA section: CRLF lines, leading dots doubled, ended by a lone '.'."""
    raw = _LINE_START_DOT.sub(b"..", message.as_bytes(policy=_POLICY))
    if not raw.endswith(b"\r\n"):
        raw += b"\r\n"
    return raw + b".\r\n"


def _expect(
    reply: tuple[int, bytes], step: str, what: str, ok: tuple[int, ...] = (250, 251)
) -> None:
    code, text = reply
    if code not in ok:
        raise _by_code(code, f"{what} refused {step} ({code} {one_line(text)})")


def _by_code(
    code: int, message: str, scope: Literal["message", "receiver"] = "message"
) -> DeliveryFailed:
    """4xx (and anything unexpected before the message was sent) defers; 5xx fails."""
    return DeliveryFailed(message) if 500 <= code < 600 else DeliveryDeferred(message, scope=scope)


def _is_address(address: str) -> bool:
    local, at, domain = address.rpartition("@")
    return bool(at) and bool(_DOT_ATOM.fullmatch(local)) and bool(_DOMAIN.fullmatch(domain))


def _address_of(value: str, field: str) -> str:
    _, address = email.utils.parseaddr(value)
    if not _is_address(address) or "\n" in value or "\r" in value:
        raise ConfigError(
            f"SMTP '{field}' '{value}' is not an address like 'Acme <sales@acme.example>'"
        )
    return address


def _reply(exc: smtplib.SMTPResponseException) -> str:
    return f"{exc.smtp_code} {one_line(exc.smtp_error)}"
