"""Transports from `gtmflow.toml`: named channels, secrets from the environment, routes by kind.

```toml
[transports.smtp]                       # `type` defaults to the name when the name is a type
host = "smtp.acme.example"
security = "starttls"                   # none | starttls | ssl; port: 25 / 587 / 465
username = "apikey"
password_env = "GTMFLOW_SMTP_PASSWORD"  # the variable's name; its value is never logged
from = "Acme Sales <sales@acme.example>"

[transports.slack]
type = "webhook"
url_env = "GTMFLOW_SLACK_WEBHOOK_URL"   # or url = "https://..." when it is not a secret
format = "slack"                        # or "json"
secret_env = "GTMFLOW_WEBHOOK_SECRET"   # optional: signs each request

[transports.routes]                     # action kind -> transport name
send_email = "smtp"
alert_sales = "slack"
default = "file"                        # built in: "file" (.gtmflow/delivered.jsonl), "console"
```

Secrets are never read from the file: a `password`, `secret` or `token` key is an error that
names the `*_env` key to use. A file transport's `path` and a `ca_file` must lie inside the
workspace unless the table says `allow_outside_workspace = true`. Every problem in the table is
reported at once.
"""

from __future__ import annotations

import os
import ssl
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from gtmflow.clock import Clock
from gtmflow.errors import ConfigError
from gtmflow.models import Contact
from gtmflow.tools._paths import workspace_path
from gtmflow.tools.delivery.smtp import Security, SMTPTransport
from gtmflow.tools.delivery.transports import (
    ConsoleTransport,
    FileTransport,
    RetryPolicy,
    RoutingTransport,
    Transport,
)
from gtmflow.tools.delivery.webhook import WebhookFormat, WebhookTransport

__all__ = [
    "ConsoleSettings",
    "FileSettings",
    "SMTPSettings",
    "WebhookSettings",
    "build_transports",
    "contact_label",
    "load_transports",
]

ContactLookup = Callable[[str], Contact | None]
_SECRET_KEYS = {"password": "password_env", "secret": "secret_env", "token": "token_env"}


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class _RetrySettings(_Settings):
    attempts: int = Field(default=3, ge=1, le=20, description="Tries per delivery, first included.")
    backoff: float = Field(default=0.5, ge=0, description="Seconds before the first retry.")
    max_backoff: float = Field(default=8.0, ge=0, description="Longest wait between tries.")

    def retry_policy(self) -> RetryPolicy:
        """The `RetryPolicy` these settings describe."""
        return RetryPolicy(self.attempts, self.backoff, max(self.backoff, self.max_backoff))


class SMTPSettings(_RetrySettings):
    """`type = "smtp"`: email through an SMTP server."""

    type: Literal["smtp"] = "smtp"
    host: str
    port: int | None = Field(default=None, ge=1, le=65535)
    security: Security = "starttls"
    username: str | None = None
    password_env: str | None = Field(default=None, description="Variable holding the password.")
    sender: str = Field(alias="from", description="From header, e.g. 'Acme <sales@acme.io>'.")
    reply_to: str | None = None
    message_id_domain: str | None = None
    timeout: float = Field(default=10.0, gt=0)
    ca_file: str | None = Field(default=None, description="Extra CA certificates (PEM).")
    allow_outside_workspace: bool = Field(
        default=False, description="Let ca_file name a file outside the workspace."
    )


class WebhookSettings(_RetrySettings):
    """`type = "webhook"`: a JSON POST per action (Slack-compatible with `format = "slack"`)."""

    type: Literal["webhook"] = "webhook"
    url: str | None = None
    url_env: str | None = Field(default=None, description="Variable holding the url.")
    format: WebhookFormat = "json"
    secret_env: str | None = Field(default=None, description="Variable holding the HMAC key.")
    token_env: str | None = Field(default=None, description="Variable holding a bearer token.")
    headers: dict[str, str] = Field(default_factory=dict)
    timeout: float = Field(default=10.0, gt=0)
    connect_timeout: float = Field(default=5.0, gt=0)
    ca_file: str | None = None
    allow_outside_workspace: bool = False

    @model_validator(mode="after")
    def _one_url(self) -> WebhookSettings:
        if (self.url is None) == (self.url_env is None):
            raise ValueError("set exactly one of url and url_env (url_env when the url is secret)")
        return self


class FileSettings(_Settings):
    """`type = "file"`: one JSON line per action; `path` is relative to the workspace."""

    type: Literal["file"] = "file"
    path: str
    allow_outside_workspace: bool = Field(
        default=False, description="Let path name a file outside the workspace."
    )


class ConsoleSettings(_Settings):
    """`type = "console"`: one printed line per action."""

    type: Literal["console"] = "console"


_SETTINGS: Mapping[str, type[_Settings]] = {
    "smtp": SMTPSettings,
    "webhook": WebhookSettings,
    "file": FileSettings,
    "console": ConsoleSettings,
}


@dataclass(frozen=True)
class _Context:
    root: Path
    contacts: ContactLookup
    clock: Clock | None
    env: Mapping[str, str]


def load_transports(
    root: Path,
    *,
    state_dir: Path,
    contacts: ContactLookup,
    clock: Clock | None = None,
    env: Mapping[str, str] | None = None,
) -> RoutingTransport:
    """The transports `root/gtmflow.toml` configures; see the module docstring.

    Without a `[transports]` table every action goes to `[outbox] transport` ("file" or
    "console"), as before.
    """
    path = root / "gtmflow.toml"
    data: dict[str, Any] = {}
    if path.exists():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"'{path}' is not valid TOML: {exc}; fix the line it names") from None
    default = data.get("outbox", {}).get("transport", "file")
    return build_transports(
        data.get("transports"),
        root=root,
        state_dir=state_dir,
        contacts=contacts,
        clock=clock,
        env=env,
        default=default,
        source=str(path),
    )


def build_transports(
    table: Mapping[str, Any] | None,
    *,
    root: Path,
    state_dir: Path,
    contacts: ContactLookup,
    clock: Clock | None = None,
    env: Mapping[str, str] | None = None,
    default: str = "file",
    source: str = "gtmflow.toml",
) -> RoutingTransport:
    """Build the routing transport a `[transports]` table describes.

    Args:
        table: The parsed `[transports]` table (`None`: only the built-ins).
        root: Workspace folder; relative paths start here.
        state_dir: Where the built-in "file" transport writes `delivered.jsonl`.
        contacts: Contact id → contact; gives SMTP its recipient and Slack its labels.
        clock: For `Date` headers and signature timestamps (default: the system clock).
        env: Where `*_env` secrets are read (default: `os.environ`).
        default: Transport for kinds without a route, unless `routes.default` says otherwise.
        source: Names the file in error messages.

    Raises:
        ConfigError: Listing every problem found, e.g. an unset variable or an unknown route.
    """
    table = dict(table or {})
    routes = table.pop("routes", {})
    context = _Context(root, contacts, clock, os.environ if env is None else env)
    transports: dict[str, Transport] = {
        "file": FileTransport(state_dir / "delivered.jsonl"),
        "console": ConsoleTransport(),
    }
    errors: list[str] = []
    for name, options in table.items():
        built = _build_one(name, options, context, errors)
        if built is not None:
            transports[name] = built
    routing = _routes(routes, transports, default, errors)
    if errors:
        problems = "\n".join(f"- {e}" for e in errors)
        raise ConfigError(f"'{source}' [transports] has {len(errors)} problem(s):\n{problems}")
    assert routing is not None
    return routing


def _build_one(name: str, options: Any, context: _Context, errors: list[str]) -> Transport | None:
    where = f"[transports.{name}]"
    if not isinstance(options, Mapping):
        errors.append(f'{where} must be a table of options, e.g. host = "smtp.acme.io"')
        return None
    kind = options.get("type", name if name in _SETTINGS else None)
    if kind not in _SETTINGS:
        errors.append(f"{where} needs type = one of {', '.join(map(repr, _SETTINGS))}")
        return None
    found = len(errors)
    for key in sorted(_SECRET_KEYS.keys() & options.keys()):
        errors.append(
            f"{where} {key}: secrets are not read from the file; set "
            f'{_SECRET_KEYS[key]} = "VAR" and export VAR'
        )
    clean = {k: v for k, v in options.items() if k not in _SECRET_KEYS} | {"type": kind}
    try:
        settings = _SETTINGS[kind].model_validate(clean)
    except ValidationError as exc:
        errors += [
            f"{where} {_loc(e['loc'])}: {e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors(include_input=False)
        ]
        return None
    errors += [
        f"{where} {key}: environment variable '{variable}' is not set (or empty); export it "
        "before running, e.g. in your shell or your service's environment"
        for key, variable in settings.model_dump().items()
        if key.endswith("_env") and variable and not context.env.get(variable)
    ]
    if len(errors) > found:
        return None
    try:
        transport = _make(settings, context)
    except ConfigError as exc:
        errors.append(f"{where} {exc}")
        return None
    transport.name = name
    return transport


def _make(settings: _Settings, context: _Context) -> Transport:
    if isinstance(settings, SMTPSettings):
        return _make_smtp(settings, context)
    if isinstance(settings, WebhookSettings):
        return _make_webhook(settings, context)
    if isinstance(settings, FileSettings):
        return FileTransport(
            workspace_path(
                context.root,
                settings.path,
                key="path",
                allow_outside=settings.allow_outside_workspace,
            )
        )
    return ConsoleTransport()


def _make_smtp(s: SMTPSettings, context: _Context) -> SMTPTransport:
    password = _secret(s.password_env, context)
    if s.username is not None and password is None:
        raise ConfigError("username is set but password_env is not; name the variable to read")
    return SMTPTransport(
        host=s.host,
        port=s.port,
        security=s.security,
        username=s.username,
        password=password,
        sender=s.sender,
        reply_to=s.reply_to,
        message_id_domain=s.message_id_domain,
        recipient=lambda contact_id: _email_of(context.contacts(contact_id)),
        timeout=s.timeout,
        retry=s.retry_policy(),
        clock=context.clock,
        ssl_context=_ssl_context(s.ca_file, context.root, s.allow_outside_workspace),
    )


def _make_webhook(s: WebhookSettings, context: _Context) -> WebhookTransport:
    url = _secret(s.url_env, context) or SecretStr(s.url or "")
    return WebhookTransport(
        url,
        format=s.format,
        secret=_secret(s.secret_env, context),
        token=_secret(s.token_env, context),
        headers=s.headers,
        describe=lambda contact_id: contact_label(context.contacts(contact_id)),
        timeout=s.timeout,
        connect_timeout=s.connect_timeout,
        retry=s.retry_policy(),
        clock=context.clock,
        ssl_context=_ssl_context(s.ca_file, context.root, s.allow_outside_workspace),
    )


def _secret(variable: str | None, context: _Context) -> SecretStr | None:
    """The value of a `*_env` variable (checked to be set before transports are built)."""
    return None if variable is None else SecretStr(context.env[variable])


def _ssl_context(ca_file: str | None, root: Path, allow_outside: bool) -> ssl.SSLContext | None:
    if ca_file is None:
        return None
    path = workspace_path(root, ca_file, key="ca_file", allow_outside=allow_outside)
    if not path.is_file():
        raise ConfigError(f"ca_file '{path}' does not exist; give a PEM file of CA certificates")
    try:
        return ssl.create_default_context(cafile=str(path))
    except ssl.SSLError as exc:
        raise ConfigError(
            f"ca_file '{path}' is not a PEM file of CA certificates ({exc.reason or exc})"
        ) from None


def _routes(
    routes: Any, transports: Mapping[str, Transport], default: str, errors: list[str]
) -> RoutingTransport | None:
    if not isinstance(routes, Mapping):
        errors.append('[transports.routes] must be a table: action kind = "transport name"')
        return None
    chosen = dict(routes)
    fallback = chosen.pop("default", default)
    known = ", ".join(sorted(transports))
    for kind, name in [*chosen.items(), ("default", fallback)]:
        if not isinstance(name, str) or name not in transports:
            errors.append(
                f"[transports.routes] {kind} = {name!r}: no such transport; known: {known}"
            )
    if errors:
        return None
    return RoutingTransport(
        {kind: transports[name] for kind, name in chosen.items()}, default=transports[fallback]
    )


def contact_label(contact: Contact | None) -> str | None:
    """How a Slack message names a contact: name (title, company) and email, as known.

    Example:
        >>> contact_label(Contact(id="c-1", name="Ada Lovelace", company="Acme",
        ...                       email="ada@acme.io"))
        'Ada Lovelace (Acme) ada@acme.io'
    """
    if contact is None:
        return None
    who = contact.name or contact.email or contact.id
    extras = ", ".join(x for x in (contact.title, contact.company) if x)
    label = f"{who} ({extras})" if extras else who
    return f"{label} {contact.email}" if contact.name and contact.email else label


def _email_of(contact: Contact | None) -> str | None:
    return contact.email if contact is not None else None


def _loc(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) or "options"
