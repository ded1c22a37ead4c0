"""Transports from gtmflow.toml: routes, secrets from the environment, and delivery end to end."""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from gtmflow.clock import VirtualClock
from gtmflow.errors import ConfigError
from gtmflow.models import Action, Contact
from gtmflow.tools.delivery import transport_config
from gtmflow.tools.delivery.outbox import Outbox
from gtmflow.tools.delivery.smtp import SMTPTransport
from gtmflow.tools.delivery.transport_config import build_transports, load_transports
from gtmflow.tools.delivery.transports import ConsoleTransport, FileTransport, RoutingTransport
from gtmflow.tools.delivery.webhook import WebhookTransport
from gtmflow.tools.events.event_store import SQLiteEventStore

from .local_servers import HTTPReceiver, SMTPServer

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
SLACK_URL_SECRET = "s3cr3t-slack-path"
ENV = {
    "GTMFLOW_SMTP_PASSWORD": "pw-never-shown",
    "GTMFLOW_SLACK_WEBHOOK_URL": f"https://hooks.slack.example/services/{SLACK_URL_SECRET}",
    "GTMFLOW_WEBHOOK_SECRET": "whsec-never-shown",
}
TOML = """
[outbox]
transport = "file"

[transports.smtp]
host = "smtp.acme.example"
username = "apikey"
password_env = "GTMFLOW_SMTP_PASSWORD"
from = "Acme Sales <sales@acme.example>"

[transports.slack]
type = "webhook"
url_env = "GTMFLOW_SLACK_WEBHOOK_URL"
format = "slack"
secret_env = "GTMFLOW_WEBHOOK_SECRET"
attempts = 5

[transports.routes]
send_email = "smtp"
alert_sales = "slack"
"""


def _build(table: dict[str, Any] | None, tmp_path: Path, **options: Any) -> RoutingTransport:
    settings: dict[str, Any] = {
        "root": tmp_path,
        "state_dir": tmp_path / ".gtmflow",
        "contacts": lambda contact_id: None,
        "env": ENV,
        "clock": VirtualClock(NOW),
    }
    return build_transports(table, **(settings | options))


def test_kinds_are_routed_to_named_transports(tmp_path: Path) -> None:
    (tmp_path / "gtmflow.toml").write_text(TOML)
    router = load_transports(
        tmp_path, state_dir=tmp_path / ".gtmflow", contacts=lambda c: None, env=ENV
    )
    smtp, slack, other = router.route("send_email"), router.route("alert_sales"), router.route("x")
    assert isinstance(smtp, SMTPTransport) and (smtp.name, smtp.port) == ("smtp", 587)
    assert smtp.security == "starttls" and smtp.domain == "acme.example"
    assert isinstance(slack, WebhookTransport) and slack.name == "slack"
    assert slack.endpoint == "https://hooks.slack.example:443" and slack.format == "slack"
    assert isinstance(other, FileTransport)
    assert other.path == tmp_path / ".gtmflow" / "delivered.jsonl"
    shown = " ".join(repr(t) for t in (router, smtp, slack))
    assert all(secret not in shown for secret in (*ENV.values(), SLACK_URL_SECRET))
    assert "alert_sales=slack" in repr(router) and "default=file" in repr(router)


def test_without_a_table_everything_goes_to_the_outbox_default(tmp_path: Path) -> None:
    router = _build(None, tmp_path, default="console")
    assert isinstance(router.route("send_email"), ConsoleTransport)
    (tmp_path / "gtmflow.toml").write_text('[outbox]\ntransport = "console"\n')
    loaded = load_transports(tmp_path, state_dir=tmp_path, contacts=lambda c: None, env={})
    assert isinstance(loaded.route("alert_sales"), ConsoleTransport)


def test_routes_may_name_a_default_and_custom_files(tmp_path: Path) -> None:
    table = {
        "audit": {"type": "file", "path": "audit/actions.jsonl"},
        "routes": {"enroll": "console", "default": "audit"},
    }
    router = _build(table, tmp_path)
    assert isinstance(router.route("enroll"), ConsoleTransport)
    fallback = router.route("alert_sales")
    assert isinstance(fallback, FileTransport) and fallback.name == "audit"
    assert fallback.path == tmp_path / "audit" / "actions.jsonl"


def test_every_problem_is_reported_at_once_without_secrets(tmp_path: Path) -> None:
    table = {
        "smtp": {"host": "smtp.acme.example", "from": "a@acme.example", "username": "u",
                 "password_env": "UNSET_VARIABLE", "port": "not-a-port"},
        "mail2": {"type": "smtp", "host": "h", "from": "a@acme.example", "password": "hunter2"},
        "hook": {"type": "webhook", "url": "https://x.example/a", "url_env": "HOOK_URL"},
        "pager": {"type": "pagerduty"},
        "broken": "not a table",
        "routes": {"send_email": "smtp", "alert_sales": "slak"},
    }  # fmt: skip
    with pytest.raises(ConfigError) as raised:
        _build(table, tmp_path, source="ws/gtmflow.toml")
    message = str(raised.value)
    assert message.startswith("'ws/gtmflow.toml' [transports] has 7 problem(s):")
    for expected in (
        "[transports.smtp] port: Input should be a valid integer",
        "[transports.mail2] password: secrets are not read from the file; set password_env",
        "[transports.hook] options: set exactly one of url and url_env",
        "[transports.pager] needs type = one of 'smtp', 'webhook', 'file', 'console'",
        "[transports.broken] must be a table",
        "[transports.routes] alert_sales = 'slak': no such transport; known: console, file",
        "[transports.routes] send_email = 'smtp': no such transport",
    ):
        assert expected in message
    assert "hunter2" not in message and "not-a-port" not in message


def test_an_unset_secret_variable_is_named_but_never_read_from_the_file(tmp_path: Path) -> None:
    table = {"smtp": {"host": "h.example", "from": "a@acme.example", "username": "u",
                      "password_env": "GTMFLOW_SMTP_PASSWORD"}}  # fmt: skip
    with pytest.raises(ConfigError, match="'GTMFLOW_SMTP_PASSWORD' is not set"):
        _build(table, tmp_path, env={})
    with pytest.raises(ConfigError, match="'GTMFLOW_SMTP_PASSWORD' is not set"):
        _build(table, tmp_path, env={"GTMFLOW_SMTP_PASSWORD": ""})
    hook = {"type": "webhook", "url_env": "URL_VAR", "secret_env": "SECRET_VAR"}
    with pytest.raises(ConfigError) as raised:
        _build({"hook": hook}, tmp_path, env={})
    assert "'URL_VAR' is not set" in str(raised.value)
    assert "'SECRET_VAR' is not set" in str(raised.value)  # both named at once


def test_a_file_that_cannot_be_opened_fails_without_writing(tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("a file, not a folder")
    router = _build({"audit": {"type": "file", "path": "taken/actions.jsonl"},
                     "routes": {"default": "audit"}}, tmp_path)  # fmt: skip
    outbox = Outbox(tmp_path / "outbox.db")
    outbox.put([_action("alert_sales", "c-1")])
    assert outbox.deliver(router).failed == 1
    assert "cannot open" in str(outbox.records()[0].last_error)
    outbox.close()


def test_a_bad_toml_file_names_itself(tmp_path: Path) -> None:
    (tmp_path / "gtmflow.toml").write_text("[transports\n")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load_transports(tmp_path, state_dir=tmp_path, contacts=lambda c: None, env={})


def test_the_documented_example_builds(tmp_path: Path) -> None:
    assert transport_config.__doc__ is not None
    example = re.search(r"```toml\n(.*?)```", transport_config.__doc__, re.S)
    assert example is not None
    router = _build(tomllib.loads(example.group(1))["transports"], tmp_path)
    assert isinstance(router.route("send_email"), SMTPTransport)
    assert isinstance(router.route("alert_sales"), WebhookTransport)


# ------------------------------------------------------------------------ end to end


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[SQLiteEventStore, Outbox]]:
    events = SQLiteEventStore(tmp_path / "workspace.db")
    events.write_contacts(
        [
            Contact(id="c-1", email="Ada@Acme.example", name="Ada Lovelace", company="Acme"),
            Contact(id="c-2", email="grace@navy.example"),
            Contact(id="c-3", name="No Email"),
        ]
    )
    outbox = Outbox(tmp_path / "workspace.db")
    yield events, outbox
    outbox.close()


def _action(kind: str, contact: str, **payload: Any) -> Action:
    return Action(
        kind=kind, contact_id=contact, payload=payload, graph="g", source="r", created_at=NOW
    )


def test_end_to_end_through_the_outbox(
    tmp_path: Path, world: tuple[SQLiteEventStore, Outbox]
) -> None:
    events, outbox = world
    email = {"subject": "Following up", "body": "Hello again."}
    actions = [
        _action("send_email", "c-1", **email, to="attacker@evil.example"),
        _action("send_email", "c-2", **email),
        _action("send_email", "c-3", **email),  # no email address
        _action("alert_sales", "c-1", channel="sales", message="hot lead"),
        _action("enroll", "c-2", sequence="nurture"),
    ]
    outbox.put(actions)
    with SMTPServer() as smtp, HTTPReceiver([503]) as hooks:
        env = {"HOOK_URL": hooks.url("/hooks/" + SLACK_URL_SECRET), "HOOK_SECRET": "k"}
        table = {
            "smtp": {"host": "127.0.0.1", "port": smtp.port, "security": "none",
                     "from": "Acme <sales@acme.example>", "timeout": 0.5},
            "slack": {"type": "webhook", "url_env": "HOOK_URL", "format": "slack",
                      "secret_env": "HOOK_SECRET", "backoff": 0.01, "timeout": 0.5},
            "routes": {"send_email": "smtp", "alert_sales": "slack"},
        }  # fmt: skip
        with _build(table, tmp_path, contacts=events.contact, env=env) as router:
            report = outbox.deliver(router)
            assert (report.sent, report.failed, report.unknown) == (4, 1, 0)
            again = outbox.deliver(router)
            assert (again.sent, again.failed, again.unknown) == (0, 0, 0)
    assert [m.rcpt_tos for m in smtp.mailbox.mail] == [["ada@acme.example"], ["grace@navy.example"]]
    ids = {m.message["Message-ID"] for m in smtp.mailbox.mail}
    assert ids == {f"<{a.idempotency_key}@acme.example>" for a in actions[:2]}
    assert len(hooks.requests) == 2  # one 503, then the delivery
    slack = json.loads(hooks.requests[-1].body)
    assert slack["text"].startswith("Sales alert: Ada Lovelace (Acme) ada@acme.example")
    delivered = (tmp_path / ".gtmflow" / "delivered.jsonl").read_text().splitlines()
    assert [json.loads(line)["kind"] for line in delivered] == ["enroll"]
    status = {r.action.idempotency_key: r for r in outbox.records()}
    failed = status[actions[2].idempotency_key]
    assert failed.status == "failed" and "'c-3' has no email address" in str(failed.last_error)
