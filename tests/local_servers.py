"""Real servers on 127.0.0.1 for delivery tests: an SMTP server (aiosmtpd) and an HTTP receiver.

Both bind a free port chosen by the kernel, record what they receive, follow a small script
(defer, refuse, hang, close) and stop when their `with` block ends; a hang is bounded, so
nothing outlives a test by more than a few seconds.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import ssl
import subprocess
import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServerProtocol
from aiosmtpd.smtp import AuthResult, Envelope, Session

HANG_LIMIT = 3.0
"""Longest a 'hang' lasts, in seconds, so a stuck test still ends."""


def closed_port() -> int:
    """A local port with nothing listening (connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Cert:
    """A self-signed certificate for 127.0.0.1 and localhost, with contexts for both ends."""

    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, self.key)
        return context

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.cert))


def make_cert(folder: Path) -> Cert:
    """Create a throwaway certificate with the `openssl` command; skip the test without it."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    return Cert(cert, key)


# ------------------------------------------------------------------------------------------ SMTP


@dataclass
class Mail:
    """One message the SMTP server accepted (or was holding when it hung)."""

    mail_from: str
    rcpt_tos: list[str]
    raw: bytes

    @property
    def message(self) -> EmailMessage:
        parsed = message_from_bytes(self.raw.replace(b"\r\n", b"\n"), policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class Mailbox:
    """The aiosmtpd handler: records mail and follows a script of replies.

    Args:
        data_replies: Replies to successive messages (after the final '.'); then "250 OK".
        refuse: Recipients answered "550 no such user" at RCPT TO.
        hang: Seconds to sit on each message before answering (after recording it).
    """

    data_replies: deque[str] = field(default_factory=deque)
    refuse: set[str] = field(default_factory=set)
    hang: float = 0.0
    mail: list[Mail] = field(default_factory=list)
    data_calls: int = 0
    rcpt_calls: int = 0
    ehlo_calls: int = 0
    logins: list[str] = field(default_factory=list)

    async def handle_EHLO(
        self, server: SMTPServerProtocol, session: Session, envelope: Envelope, hostname: str,
        responses: list[str],
    ) -> list[str]:  # fmt: skip
        self.ehlo_calls += 1
        session.host_name = hostname
        return responses

    async def handle_RCPT(
        self, server: SMTPServerProtocol, session: Session, envelope: Envelope, address: str,
        rcpt_options: list[str],
    ) -> str:  # fmt: skip
        self.rcpt_calls += 1
        if address in self.refuse:
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(
        self, server: SMTPServerProtocol, session: Session, envelope: Envelope
    ) -> str:
        self.data_calls += 1
        reply = self.data_replies.popleft() if self.data_replies else "250 OK"
        content = envelope.original_content or b""
        if reply.startswith("2"):
            self.mail.append(Mail(str(envelope.mail_from), list(envelope.rcpt_tos), content))
        if self.hang:
            await asyncio.sleep(min(self.hang, HANG_LIMIT))
        return reply

    def authenticate(
        self, server: SMTPServerProtocol, session: Session, envelope: Envelope, mechanism: str,
        auth_data: Any,
    ) -> AuthResult:  # fmt: skip
        login, password = auth_data.login.decode(), auth_data.password.decode()
        self.logins.append(login)
        ok = (login, password) == ("mailer", "correct horse")
        return AuthResult(success=ok, handled=False)


class _Controller(Controller):
    """aiosmtpd's controller on a port the kernel picks (no race between choosing and binding)."""

    def _create_server(self) -> Any:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        return self.loop.create_server(self._factory_invoker, sock=sock, ssl=self.ssl_context)


class SMTPServer:
    """A real SMTP server on 127.0.0.1, for a `with` block.

    Args:
        mailbox: The handler (script and records).
        **options: aiosmtpd options, e.g. `tls_context=`, `require_starttls=True`,
            `auth_required=True`, `ssl_context=` (TLS from the start), `timeout=` (idle).
    """

    def __init__(self, mailbox: Mailbox | None = None, **options: Any) -> None:
        self.mailbox = mailbox or Mailbox()
        if options.get("auth_required"):
            options.setdefault("authenticator", self.mailbox.authenticate)
        self._controller = _Controller(
            self.mailbox, hostname="127.0.0.1", port=0, ready_timeout=5, **options
        )

    @property
    def port(self) -> int:
        return int(self._controller.port)

    def __enter__(self) -> Self:
        self._controller.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._controller.stop()


# ------------------------------------------------------------------------------------------ HTTP


@dataclass
class Request:
    """One request the HTTP receiver read in full."""

    path: str
    headers: dict[str, str]
    body: bytes


class HTTPReceiver:
    """A real HTTP server on 127.0.0.1 that answers POSTs from a script.

    Args:
        script: One item per request, in order: a status code, `"hang"` (read the request, then
            answer nothing until released or `HANG_LIMIT`) or `"close"` (read it, then close the
            connection without an answer). After the script: 200.
        retry_after: `Retry-After` value sent with 429 and 503 answers.
        cert: Serve HTTPS with this certificate.
    """

    def __init__(
        self, script: Iterable[int | str] = (), *, retry_after: str | None = None,
        cert: Cert | None = None,
    ) -> None:  # fmt: skip
        self.script: deque[int | str] = deque(script)
        self.requests: list[Request] = []
        self.retry_after = retry_after
        self.release = threading.Event()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        if cert is not None:
            context = cert.server_context()
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def url(self, path: str = "/hook", *, scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    def next_step(self, request: Request) -> int | str:
        with self._lock:
            self.requests.append(request)
            return self.script.popleft() if self.script else 200

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def _handler(receiver: HTTPReceiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            headers = {k.lower(): v for k, v in self.headers.items()}
            step = receiver.next_step(Request(self.path, headers, body))
            if step == "hang":
                receiver.release.wait(HANG_LIMIT)
                self.close_connection = True
                return
            if step == "close":
                self.close_connection = True
                return
            assert isinstance(step, int)
            self._answer(step)

        def _answer(self, status: int) -> None:
            text = b"ok" if status < 300 else f"status {status} from the test receiver".encode()
            self.send_response(status)
            if status in (429, 503) and receiver.retry_after is not None:
                self.send_header("Retry-After", receiver.retry_after)
            if 300 <= status < 400:
                self.send_header("Location", "http://127.0.0.1:9/elsewhere")
            self.send_header("Content-Length", str(len(text)))
            self.end_headers()
            self.wfile.write(text)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output quiet

    return Handler
