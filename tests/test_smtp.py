"""SMTP delivery against a real aiosmtpd server on 127.0.0.1: headers, recipients, retries, TLS."""

from __future__ import annotations

import logging
import re
import time
from collections import deque
from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gtmflow.clock import VirtualClock
from gtmflow.errors import ConfigError, StoreError
from gtmflow.models import Action
from gtmflow.tools.delivery.outbox import Outbox
from gtmflow.tools.delivery.smtp import SMTPTransport, message_id
from gtmflow.tools.delivery.transports import RetryPolicy

from .local_servers import Cert, Mailbox, SMTPServer, closed_port, make_cert

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
EMAILS = {"c-1": "ada@acme.example", "c-2": "grace@navy.example", "c-3": "alan@bletchley.example"}
FAST = RetryPolicy(attempts=3, backoff=0.01, max_backoff=0.05)


def _email(contact: str = "c-1", step: int = 1, **payload: Any) -> Action:
    content = {"subject": "Your pricing questions", "body": "Hi,\nhere is what we discussed."}
    return Action(
        kind="send_email",
        contact_id=contact,
        payload=content | payload,
        graph="nurture",
        source="step-1",
        step=step,
        created_at=NOW,
    )


def _transport(port: int, **options: Any) -> SMTPTransport:
    settings: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "security": "none",
        "sender": "Acme Sales <sales@acme.example>",
        "recipient": EMAILS.get,
        "timeout": 0.5,
        "retry": FAST,
        "clock": VirtualClock(NOW),
    }
    return SMTPTransport(**(settings | options))


@pytest.fixture
def server() -> Iterator[SMTPServer]:
    with SMTPServer() as smtp:
        yield smtp


@pytest.fixture
def box(tmp_path: Path) -> Iterator[Outbox]:
    outbox = Outbox(tmp_path / "outbox.db")
    yield outbox
    outbox.close()


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> Cert:
    return make_cert(tmp_path_factory.mktemp("cert"))


def test_each_action_becomes_one_email_with_stable_headers(server: SMTPServer, box: Outbox) -> None:
    actions = [_email("c-1"), _email("c-2", html="<p>Hi</p>"), _email("c-3")]
    box.put(actions)
    with _transport(server.port) as transport:
        assert box.deliver(transport).sent == 3
    mail = server.mailbox.mail
    assert [m.rcpt_tos for m in mail] == [[EMAILS[a.contact_id]] for a in actions]
    ids = [m.message["Message-ID"] for m in mail]
    assert ids == [f"<{a.idempotency_key}@acme.example>" for a in actions]
    assert len(set(ids)) == 3
    first = mail[0].message
    assert first["From"] == "Acme Sales <sales@acme.example>"
    assert first["To"] == "ada@acme.example" and mail[0].mail_from == "sales@acme.example"
    assert first["Subject"] == "Your pricing questions"
    assert parsedate_to_datetime(first["Date"]) == NOW
    assert first.get_content().rstrip("\n") == "Hi,\nhere is what we discussed."
    html = mail[1].message.get_body(preferencelist=("html",))
    assert html is not None and html.get_content().strip() == "<p>Hi</p>"
    assert box.counts() == {"sent": 3}


def test_the_payload_cannot_redirect_or_add_recipients(
    server: SMTPServer, box: Outbox, caplog: pytest.LogCaptureFixture
) -> None:
    hostile = _email(
        to="attacker@evil.example",
        cc="x@evil.example",
        bcc=["y@evil.example"],
        headers={"Bcc": "z@evil.example"},
        subject="Hello\r\nBcc: w@evil.example",
    )
    box.put([hostile])
    with caplog.at_level(logging.WARNING), _transport(server.port) as transport:
        assert box.deliver(transport).sent == 1
    (mail,) = server.mailbox.mail
    assert mail.rcpt_tos == ["ada@acme.example"]
    message = mail.message
    assert message["To"] == "ada@acme.example" and message["Cc"] is None and message["Bcc"] is None
    assert message["Subject"] == "Hello Bcc: w@evil.example"  # one line, no new header
    assert "attacker" not in mail.raw.decode()
    assert "'bcc', 'cc', 'headers', 'to'" in caplog.text


@pytest.mark.parametrize(
    ("lookup", "reason"),
    [
        ({}, "has no email address"),
        ({"c-1": "ada@acme.example\r\nBcc:x@evil.example"}, "cannot send to"),
        ({"c-1": "ädä@acme.example"}, "plain ASCII address"),
    ],
)
def test_a_contact_without_a_usable_address_fails_before_connecting(
    server: SMTPServer, box: Outbox, lookup: dict[str, str], reason: str
) -> None:
    box.put([_email("c-1")])
    with _transport(server.port, recipient=lookup.get) as transport:
        assert box.deliver(transport).failed == 1
    (record,) = box.records()
    assert record.status == "failed" and reason in str(record.last_error)
    assert server.mailbox.ehlo_calls == 0


def test_an_error_while_building_the_email_is_a_failure_not_an_unknown(
    server: SMTPServer, box: Outbox
) -> None:
    def broken_lookup(contact_id: str) -> str | None:
        raise StoreError("the contacts table is locked")

    box.put([_email()])
    with _transport(server.port, recipient=broken_lookup) as transport:
        assert box.deliver(transport).failed == 1
    error = str(box.records()[0].last_error)
    assert "cannot build the email for contact 'c-1': StoreError: the contacts table" in error


def test_a_payload_without_subject_or_body_fails(server: SMTPServer, box: Outbox) -> None:
    box.put([_email("c-1", subject=""), _email("c-2", body=None)])
    with _transport(server.port) as transport:
        assert box.deliver(transport).failed == 2
    errors = [r.last_error or "" for r in box.records()]
    assert "no 'subject'" in errors[0] and "no 'body'" in errors[1]
    assert server.mailbox.data_calls == 0


def test_unicode_and_lines_starting_with_a_dot_arrive_intact(
    server: SMTPServer, box: Outbox
) -> None:
    body = "Olá Zoë 🎉\n.\n.hidden line\n..two dots\nend"
    box.put([_email(subject="Prêt? ✅", body=body)])
    with _transport(server.port) as transport:
        assert box.deliver(transport).sent == 1
    message = server.mailbox.mail[0].message
    assert message["Subject"] == "Prêt? ✅"
    assert message.get_content().rstrip("\n") == body
    assert server.mailbox.mail[0].raw.isascii()  # 7-bit: no 8BITMIME needed


def test_a_deferred_message_is_retried_and_delivered_once(box: Outbox) -> None:
    with SMTPServer(Mailbox(data_replies=deque(["451 4.3.0 try again later"]))) as server:
        box.put([_email()])
        with _transport(server.port) as transport:
            assert box.deliver(transport).sent == 1
    assert (server.mailbox.data_calls, len(server.mailbox.mail)) == (2, 1)
    (record,) = box.records()
    assert (record.status, record.attempts) == ("sent", 1)  # the transport owns the retry


def test_a_permanent_refusal_fails_at_once(box: Outbox) -> None:
    with SMTPServer(Mailbox(refuse={"ada@acme.example"})) as server:
        box.put([_email()])
        with _transport(server.port) as transport:
            assert box.deliver(transport).failed == 1
    assert server.mailbox.rcpt_calls == 1
    assert "RCPT TO (550 5.1.1 no such user)" in str(box.records()[0].last_error)


def test_a_server_that_keeps_deferring_is_tried_again_in_a_later_pass(tmp_path: Path) -> None:
    clock = VirtualClock(NOW)
    box = Outbox(tmp_path / "outbox.db", clock=clock)
    replies = deque(["451 4.7.0 busy"] * 3)  # this pass's three tries; then it accepts
    with SMTPServer(Mailbox(data_replies=replies)) as server:
        box.put([_email()])
        with _transport(server.port) as transport:
            assert box.deliver(transport).deferred == 1
            (record,) = box.records()
            assert record.status == "pending" and not server.mailbox.mail
            assert "deferred 3 time(s) in a row" in str(record.last_error)
            assert record.next_attempt_at is not None and record.next_attempt_at > NOW
            assert box.deliver(transport).sent == 0  # not due yet: the server is left alone
            clock.set(record.next_attempt_at)
            assert box.deliver(transport).sent == 1
    assert server.mailbox.data_calls == 4 and len(server.mailbox.mail) == 1
    assert box.records()[0].attempts == 2  # two passes; the transport owned the tries within


def test_no_reply_after_the_message_is_unknown_and_never_resent(box: Outbox) -> None:
    with SMTPServer(Mailbox(hang=2.0)) as server:
        box.put([_email()])
        with _transport(server.port) as transport:
            started = time.monotonic()
            assert box.deliver(transport).unknown == 1
            assert time.monotonic() - started < 1.5  # one 0.5 s timeout, no retry
            assert box.deliver(transport) == box.deliver(transport)  # nothing pending
        assert len(server.mailbox.mail) == 1  # the server did get it: resending would duplicate
    (record,) = box.records()
    assert (record.status, record.attempts) == ("unknown", 1)
    assert "DeliveryUnknown" in str(record.last_error)
    assert "may have been accepted" in str(record.last_error)


def test_a_server_that_is_down_defers_then_the_mail_goes_out_once_it_is_up(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = VirtualClock(NOW)
    box = Outbox(tmp_path / "outbox.db", clock=clock)
    box.put([_email("c-1"), _email("c-2")])
    started = time.monotonic()
    transport = _transport(closed_port())
    with caplog.at_level(logging.WARNING, logger="gtmflow.delivery"), transport:
        assert box.deliver(transport).deferred == 2
    assert time.monotonic() - started < 4
    error = str(box.records()[0].last_error)
    assert "deferred 3 time(s) in a row" in error and "ConnectionRefusedError" in error
    assert len(re.findall(r"attempt \d deferred", caplog.text)) == 2  # c-2 was not tried
    assert box.counts() == {"pending": 2}
    clock.advance("2m")
    with SMTPServer() as server, _transport(server.port) as transport:  # back up
        assert box.deliver(transport).sent == 2
    assert sorted(m.rcpt_tos[0] for m in server.mailbox.mail) == [EMAILS["c-1"], EMAILS["c-2"]]


def test_the_connection_is_reused_and_reopened_after_the_server_drops_it(box: Outbox) -> None:
    with SMTPServer(timeout=0.3) as server:  # the server closes idle sessions after 0.3 s
        box.put([_email("c-1"), _email("c-2")])
        with _transport(server.port) as transport:
            assert box.deliver(transport).sent == 2
            assert server.mailbox.ehlo_calls == 1  # one session for both
            time.sleep(0.6)
            box.put([_email("c-3")])
            assert box.deliver(transport).sent == 1
        assert server.mailbox.ehlo_calls == 2 and len(server.mailbox.mail) == 3


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_tls_and_login(cert: Cert, box: Outbox, security: str) -> None:
    tls: dict[str, Any] = (
        {"tls_context": cert.server_context(), "require_starttls": True}
        if security == "starttls"
        else {"ssl_context": cert.server_context(), "auth_require_tls": False}  # TLS already
    )
    with SMTPServer(auth_required=True, **tls) as server:
        box.put([_email()])
        login = {"username": "mailer", "password": "correct horse"}
        tls_client = {"security": security, "ssl_context": cert.client_context()}
        with _transport(server.port, **login, **tls_client) as transport:
            assert box.deliver(transport).sent == 1
    assert server.mailbox.logins == ["mailer"] and len(server.mailbox.mail) == 1


def test_bad_credentials_fail_at_once_and_never_show_the_password(
    cert: Cert, box: Outbox, caplog: pytest.LogCaptureFixture
) -> None:
    tls: dict[str, Any] = {"tls_context": cert.server_context(), "require_starttls": True}
    with SMTPServer(auth_required=True, **tls) as server:
        box.put([_email()])
        transport = _transport(
            server.port,
            security="starttls",
            ssl_context=cert.client_context(),
            username="mailer",
            password="hunter2-wrong",
        )
        with caplog.at_level(logging.DEBUG), transport:
            assert box.deliver(transport).failed == 1
    assert server.mailbox.ehlo_calls == 2  # one session (EHLO before and after STARTTLS)
    assert server.mailbox.logins == ["mailer", "mailer"]  # smtplib tries PLAIN, then LOGIN
    error = str(box.records()[0].last_error)
    assert "refused the login (535" in error
    assert all("hunter2" not in text for text in (error, caplog.text, repr(transport)))


def test_an_untrusted_certificate_fails_without_retrying(cert: Cert, box: Outbox) -> None:
    with SMTPServer(tls_context=cert.server_context()) as server:
        box.put([_email()])
        with _transport(server.port, security="starttls") as transport:  # system CAs only
            assert box.deliver(transport).failed == 1
        assert server.mailbox.ehlo_calls == 1
    assert "TLS certificate rejected" in str(box.records()[0].last_error)


def test_configuration_mistakes_are_caught_when_built() -> None:
    with pytest.raises(ConfigError, match="clear text"):
        _transport(25, username="u", password="p")
    with pytest.raises(ConfigError, match="both 'username' and a password"):
        _transport(25, security="ssl", username="u")
    with pytest.raises(ConfigError, match="not an address"):
        _transport(25, sender="Acme Sales")


@given(st.text(min_size=1, max_size=80))
def test_every_key_gives_one_well_formed_stable_message_id(key: str) -> None:
    value = message_id(key, "acme.example")
    assert re.fullmatch(r"<[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@acme\.example>", value)
    assert ".." not in value and value == message_id(key, "acme.example")
    if re.fullmatch(r"[0-9a-f]{32}", key):
        assert value == f"<{key}@acme.example>"
