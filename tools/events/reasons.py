"""Reasons a person understands, for rows that could not be read.

Pydantic's validation errors are precise but long; a dead-letter file wants one short sentence
per row that says what is wrong and how to fix it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from gtmflow.errors import InputError

__all__ = ["Rejected", "explain_validation_error", "rejection_reason", "short"]


class Rejected(InputError):
    """A row that cannot be stored; the message is the dead-letter reason."""


def explain_validation_error(error: ValidationError) -> str:
    """Turn a pydantic `ValidationError` into one short sentence a person can act on.

    Example: `timestamp '2026-01-01 10:00' has no timezone; use ISO-8601 with Z or an offset`.
    """
    details = error.errors(include_url=False)
    reasons = [_explain(detail) for detail in details[:3]]
    if len(details) > 3:
        reasons.append(f"and {len(details) - 3} more problems")
    return "; ".join(reasons)


def rejection_reason(exc: BaseException) -> str:
    """The dead-letter reason for an exception raised while reading a row."""
    if isinstance(exc, ValidationError):
        return explain_validation_error(exc)
    if isinstance(exc, InputError):
        return str(exc)
    return f"row could not be read ({type(exc).__name__}: {exc})"


def _explain(detail: ErrorDetails) -> str:
    field = ".".join(str(part) for part in detail["loc"]) or "row"
    kind, value = detail["type"], detail.get("input")
    ctx = detail.get("ctx", {})
    if kind == "missing":
        return f"missing '{field}'"
    if kind == "timezone_aware":
        return f"{field} {short(value)} has no timezone; use ISO-8601 with Z or an offset"
    if kind.startswith("datetime"):
        return (
            f"{field} {short(value)} is not a date-time; use ISO-8601 with Z or an offset, "
            "e.g. '2026-01-01T10:00:00Z'"
        )
    if kind == "value_error":
        return str(ctx.get("error", detail["msg"]))
    return _explain_shape(field, kind, value, ctx) or f"{field}: {detail['msg']}"


def _explain_shape(field: str, kind: str, value: Any, ctx: Mapping[str, Any]) -> str | None:
    if kind == "string_too_short":
        return f"'{field}' is empty"
    if kind == "string_too_long":
        return f"'{field}' is longer than {ctx.get('max_length')} characters"
    if kind == "string_type":
        return f"'{field}' must be text, got {short(value)}"
    if kind == "dict_type":
        return f"'{field}' must be a JSON object, got {short(value)}"
    if kind == "literal_error":
        return f"'{field}' is {short(value)}; expected {ctx.get('expected')}"
    if kind == "extra_forbidden":
        return f"unknown field '{field}'"
    return None


def short(value: Any) -> str:
    """A value quoted for a message, cut to 60 characters."""
    text = f"'{value}'" if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."
