"""Webhook delivery against a real HTTP server on 127.0.0.1: payloads, signatures, outcomes."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from tenacity import Retrying, stop_after_attempt, wait_none

from gtmflow.clock import VirtualClock
from gtmflow.errors import ConfigError
from gtmflow.models import Action
from gtmflow.tools.delivery.outbox import Outbox
from gtmflow.tools.delivery.transports import RetryPolicy
from gtmflow.tools.delivery.webhook import WebhookTransport, slack_message, verify_signature

from .local_servers import Cert, HTTPReceiver, closed_port, make_cert

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
FAST = RetryPolicy(attempts=3, backoff=0.01, max_backoff=0.05)
SECRET_PATH = "/services/T000/B000/s3cr3t-token-xyz"


def _alert(contact: str = "c-1", step: int = 1, **payload: Any) -> Action:
    return Action(
        kind="alert_sales",
        contact_id=contact,
        payload={"channel": "sales"} | payload,
        graph="inbound_router",
        source="pricing-hot",
        step=step,
        created_at=NOW,
    )


def _transport(url: str, **options: Any) -> WebhookTransport:
    settings: dict[str, Any] = {
        "timeout": 0.5,
        "connect_timeout": 0.5,
        "retry": FAST,
        "clock": VirtualClock(NOW),
    }
    return WebhookTransport(url, **(settings | options))


@pytest.fixture
def box(tmp_path: Path) -> Iterator[Outbox]:
    outbox = Outbox(tmp_path / "outbox.db")
    yield outbox
    outbox.close()


def test_sales_alerts_arrive_as_slack_messages(box: Outbox) -> None:
    labels = {"c-1": "Ada Lovelace (CTO, Acme) ada@acme.example"}
    alert = _alert(message="3 pricing views this week <!channel> <https://evil.example|click>")
    box.put([alert])
    with HTTPReceiver() as receiver:
        transport = _transport(receiver.url(SECRET_PATH), format="slack", describe=labels.get)
        assert box.deliver(transport).sent == 1
    (request,) = receiver.requests
    assert request.path == SECRET_PATH
    assert request.headers["content-type"] == "application/json"
    assert request.headers["idempotency-key"] == alert.idempotency_key
    body = json.loads(request.body)
    assert set(body) == {"text", "blocks"}
    assert body["text"].startswith("Sales alert: Ada Lovelace (CTO, Acme) ada@acme.example")
    assert [b["type"] for b in body["blocks"]] == ["section", "context"]
    section = body["blocks"][0]["text"]
    assert section["type"] == "mrkdwn" and "3 pricing views this week" in section["text"]
    assert "<!channel>" not in request.body.decode() and "&lt;!channel&gt;" in section["text"]
    assert "<https://evil" not in request.body.decode()
    context = body["blocks"][1]["elements"][0]["text"]
    assert "rule `pricing-hot`" in context and "#sales" in context
    assert box.counts() == {"sent": 1}


def test_json_bodies_are_signed_and_verifiable(box: Outbox) -> None:
    alert = _alert()
    box.put([alert])
    with HTTPReceiver() as receiver:
        assert box.deliver(_transport(receiver.url(), secret="whsec-1")).sent == 1
    (request,) = receiver.requests
    body = json.loads(request.body)
    assert body["idempotency_key"] == alert.idempotency_key
    assert (body["kind"], body["contact_id"], body["rule"]) == ("alert_sales", "c-1", "pricing-hot")
    assert body["payload"] == {"channel": "sales"} and body["created_at"] == NOW.isoformat()
    stamp, signature = (
        request.headers["x-gtmflow-timestamp"],
        request.headers["x-gtmflow-signature"],
    )
    assert stamp == str(int(NOW.timestamp()))
    expected = hmac.new(b"whsec-1", f"{stamp}.".encode() + request.body, hashlib.sha256)
    assert signature == "sha256=" + expected.hexdigest()  # computed independently here

    def genuine(secret: str, body: bytes, now: datetime) -> bool:
        return verify_signature(secret, body, timestamp=stamp, signature=signature, now=now)

    assert genuine("whsec-1", request.body, NOW)
    assert not genuine("whsec-1", request.body + b" ", NOW)
    assert not genuine("other", request.body, NOW)
    assert not genuine("whsec-1", request.body, NOW + timedelta(minutes=6))  # a replay


def test_two_503s_then_200_is_one_delivery(box: Outbox) -> None:
    box.put([_alert()])
    with HTTPReceiver([503, 503, 200]) as receiver:
        assert box.deliver(_transport(receiver.url())).sent == 1
        assert box.deliver(_transport(receiver.url())).sent == 0
    assert len(receiver.requests) == 3
    assert len({r.headers["idempotency-key"] for r in receiver.requests}) == 1
    assert len({r.body for r in receiver.requests}) == 1
    (record,) = box.records()
    assert (record.status, record.attempts) == ("sent", 1)  # the transport owns the retries


def test_retry_after_is_honoured(box: Outbox) -> None:
    box.put([_alert()])
    policy = RetryPolicy(attempts=2, backoff=0.01, max_backoff=2.0)
    with HTTPReceiver([429], retry_after="1") as receiver:
        started = time.monotonic()
        assert box.deliver(_transport(receiver.url(), retry=policy)).sent == 1
    assert time.monotonic() - started >= 0.95 and len(receiver.requests) == 2


def test_a_tenacity_retrying_can_replace_the_policy(box: Outbox) -> None:
    box.put([_alert()])
    retrying = Retrying(stop=stop_after_attempt(2), wait=wait_none())
    with HTTPReceiver([503, 503, 503]) as receiver:
        assert box.deliver(_transport(receiver.url(), retry=retrying)).deferred == 1
    assert len(receiver.requests) == 2
    with pytest.raises(ConfigError, match="attempts must be >= 1"):
        RetryPolicy(attempts=0)


@pytest.mark.parametrize(
    ("status", "reason"),
    [(400, "answered 400: status 400 from the test receiver"), (302, "redirects are not followed")],
)
def test_client_errors_and_redirects_fail_at_once(box: Outbox, status: int, reason: str) -> None:
    box.put([_alert()])
    with HTTPReceiver([status]) as receiver:
        assert box.deliver(_transport(receiver.url())).failed == 1
    assert len(receiver.requests) == 1
    assert reason in str(box.records()[0].last_error)


def test_server_errors_across_passes_put_one_copy_at_the_receiver(tmp_path: Path) -> None:
    clock = VirtualClock(NOW)
    box = Outbox(tmp_path / "outbox.db", clock=clock)
    alerts = [_alert("c-1"), _alert("c-2")]
    box.put(alerts)
    # c-1: three 500s (the pass gives up), c-2: a 500 then 200, c-1 next pass: a 500 then 200.
    script = [500, 500, 500, 500, 200, 500, 200]
    with HTTPReceiver(script) as receiver:
        report = box.deliver(_transport(receiver.url()))
        assert (report.deferred, report.sent) == (1, 1)
        assert "deferred 3 time(s) in a row" in str(box.records()[0].last_error)
        for _ in range(3):
            clock.set(box.next_retry() or clock.now() + timedelta(hours=1))
            box.deliver(_transport(receiver.url()))
    assert box.counts() == {"sent": 2}
    by_key: dict[str, list[int]] = {}
    for request, step in zip(receiver.requests, script, strict=True):
        by_key.setdefault(request.headers["idempotency-key"], []).append(int(step))
    assert set(by_key) == {a.idempotency_key for a in alerts}  # every retry: the same key
    for key, statuses in by_key.items():
        bodies = {r.body for r in receiver.requests if r.headers["idempotency-key"] == key}
        assert len(bodies) == 1  # and the same body
        assert statuses[-1] == 200 and statuses.count(200) == 1  # nothing after it was accepted
    # A receiver that drops repeats by Idempotency-Key holds one copy per action: 0 duplicates.
    copies = {r.headers["idempotency-key"] for r in receiver.requests}
    assert len(receiver.requests) - len(copies) == 5 and len(copies) == len(alerts)


def test_a_long_retry_after_ends_the_pass_and_sets_the_next_attempt(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "outbox.db", clock=VirtualClock(NOW))
    box.put([_alert()])
    with HTTPReceiver([429], retry_after="900") as receiver:
        started = time.monotonic()
        assert box.deliver(_transport(receiver.url())).deferred == 1
        assert time.monotonic() - started < 1  # no 15-minute sleep inside the pass
    assert len(receiver.requests) == 1
    (record,) = box.records()
    assert record.next_attempt_at is not None
    assert record.next_attempt_at - NOW >= timedelta(seconds=900)


@pytest.mark.parametrize("behaviour", ["hang", "close"])
def test_no_answer_after_the_request_is_unknown_and_never_resent(
    box: Outbox, behaviour: str
) -> None:
    box.put([_alert()])
    with HTTPReceiver([behaviour]) as receiver:
        transport = _transport(receiver.url())
        started = time.monotonic()
        assert box.deliver(transport).unknown == 1
        assert time.monotonic() - started < 1.5  # one 0.5 s read timeout at most, no retry
        assert box.deliver(transport).unknown == 0  # nothing pending: never resent
        receiver.release.set()
    assert len(receiver.requests) == 1  # the receiver did get it: a resend would duplicate
    (record,) = box.records()
    assert (record.status, record.attempts) == ("unknown", 1)
    assert "DeliveryUnknown" in str(record.last_error)


def test_connection_refused_defers_after_bounded_retries_and_hides_the_url(
    box: Outbox, caplog: pytest.LogCaptureFixture
) -> None:
    box.put([_alert()])
    port = closed_port()
    transport = _transport(f"http://127.0.0.1:{port}{SECRET_PATH}", token="tok-123")
    started = time.monotonic()
    with caplog.at_level(logging.DEBUG):
        assert box.deliver(transport).deferred == 1
    assert time.monotonic() - started < 2
    error = str(box.records()[0].last_error)
    assert "deferred 3 time(s) in a row" in error and "cannot connect" in error
    assert f"webhook 'http://127.0.0.1:{port}'" in error
    for text in (error, caplog.text, repr(transport)):
        assert "s3cr3t" not in text and "tok-123" not in text


def test_bearer_token_and_extra_headers_are_sent(box: Outbox) -> None:
    box.put([_alert()])
    with HTTPReceiver() as receiver:
        transport = _transport(receiver.url(), token="tok-123", headers={"X-Source": "gtmflow"})
        assert box.deliver(transport).sent == 1
    headers = receiver.requests[0].headers
    assert headers["authorization"] == "Bearer tok-123" and headers["x-source"] == "gtmflow"


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> Cert:
    return make_cert(tmp_path_factory.mktemp("cert"))


def test_https_with_a_trusted_certificate(cert: Cert, box: Outbox) -> None:
    box.put([_alert("c-1"), _alert("c-2")])
    with HTTPReceiver(cert=cert) as receiver:
        url = receiver.url(scheme="https")
        assert box.deliver(_transport(url, ssl_context=cert.client_context()), limit=1).sent == 1
        assert box.deliver(_transport(url)).failed == 1  # system CAs do not trust it
    assert len(receiver.requests) == 1
    assert "TLS certificate rejected" in str(box.records()[1].last_error)
    assert "gave up" not in str(box.records()[1].last_error)  # not retried


def test_other_kinds_get_a_readable_slack_message() -> None:
    action = Action(
        kind="enroll",
        contact_id="c-9",
        payload={"sequence": "nurture"},
        graph="g",
        source="ebook-nurture",
        created_at=NOW,
    )
    message = slack_message(action)
    assert message["text"] == 'enroll: c-9, rule \'ebook-nurture\': {"sequence": "nurture"}'
    long = slack_message(_alert(message="x" * 5000))
    assert len(long["text"]) == 3000 and len(long["blocks"][0]["text"]["text"]) == 3000


def test_bad_urls_and_headers_are_refused_without_echoing_the_url() -> None:
    for url in ("ftp://host/x", "https:///s3cr3t", "http://host:99999/s3cr3t", "nonsense-s3cr3t"):
        with pytest.raises(ConfigError) as raised:
            WebhookTransport(url)
        assert "s3cr3t" not in str(raised.value)
    with pytest.raises(ConfigError, match="user:password"):
        WebhookTransport("https://me:s3cr3t@hooks.example/x")
    with pytest.raises(ConfigError, match="set by gtmflow"):
        WebhookTransport("https://hooks.example/x", headers={"Authorization": "Basic x"})
    with pytest.raises(ConfigError, match="not a valid HTTP header"):
        WebhookTransport("https://hooks.example/x", headers={"X-A": "1\r\nX-B: 2"})
