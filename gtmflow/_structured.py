"""Plumbing of `gtmflow.brains`: reading replies, quoting errors back, policy conversion."""

from __future__ import annotations

import json
import re
from typing import TypeVar

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from pydantic import BaseModel, ValidationError
from tenacity import AsyncRetrying, RetryError, Retrying

from gtmflow.errors import RunError

T = TypeVar("T", bound=BaseModel)
_JSON_BLOCK = re.compile(r"\{.*\}", re.DOTALL)
_MAX_ERROR_CHARS = 1500


class OutputInvalid(RunError):
    """A model reply that could not be used; the re-ask loop retries on this exception.

    A custom `max_retries=tenacity.Retrying(...)` must retry on it, e.g. with
    `retry=retry_if_exception_type(OutputInvalid)`.
    """


def parse_json_text(raw: AIMessage, schema: type[T]) -> tuple[T | None, str | None]:
    """Last resort: the first JSON object in the reply's text (code fences allowed)."""
    bad_tool = next(iter(raw.invalid_tool_calls), None)
    if bad_tool is not None:
        return None, f"the tool call's arguments are not valid JSON: {bad_tool.get('error')}"
    if raw.tool_calls:
        try:
            return schema.model_validate(raw.tool_calls[0]["args"]), None
        except ValidationError as exc:
            return None, explain(exc)
    text = raw.text if isinstance(raw.text, str) else str(raw.content)
    match = _JSON_BLOCK.search(text)
    if match is None:
        return None, "the reply contains no JSON object; reply with one JSON object only"
    try:
        return schema.model_validate_json(match.group(0)), None
    except ValidationError as exc:
        return None, explain(exc)


def reask_messages(raw: AIMessage | None, error: str, schema: type[BaseModel]) -> list[BaseMessage]:
    """The model's reply (when there is one), then the error quoted back as its API expects."""
    if raw is None:
        return [HumanMessage(_reask_text(error, schema))]
    calls = [*raw.tool_calls, *raw.invalid_tool_calls]
    text = _reask_text(error, schema)
    if calls:
        reply = AIMessage(content=raw.content, tool_calls=raw.tool_calls)
        return [
            reply,
            *(
                ToolMessage(text, tool_call_id=str(c.get("id") or f"call_{i}"))
                for i, c in enumerate(calls)
            ),
        ]
    return [AIMessage(content=raw.content), HumanMessage(text)]


def _reask_text(error: str, schema: type[BaseModel]) -> str:
    return (
        f"That output did not validate against '{schema.__name__}':\n{short(error)}\n"
        "Fix exactly these problems and answer again with the complete corrected output."
    )


def json_instruction(schema: type[BaseModel]) -> str:
    return (
        "\n\nAnswer with one JSON object and nothing else. It must validate against this JSON "
        f"schema:\n{json.dumps(schema.model_json_schema(), separators=(',', ':'))}"
    )


def explain(exc: ValidationError) -> str:
    """A validation error as short lines `path: message (got value)`, without doc links."""
    lines = []
    for err in exc.errors(include_url=False):
        path = ".".join(str(p) for p in err["loc"]) or "(root)"
        got = (
            ""
            if err["type"] == "missing"
            else f" (got {json.dumps(err.get('input'), default=str)[:80]})"
        )
        lines.append(f"- {path}: {err['msg']}{got}")
    return short(f"{exc.error_count()} error(s) in {exc.title}:\n" + "\n".join(lines))


def short(text: str) -> str:
    return text if len(text) <= _MAX_ERROR_CHARS else text[:_MAX_ERROR_CHARS] + " …"


def failure_reason(exc: BaseException) -> str:
    if isinstance(exc, RetryError):
        inner = exc.last_attempt.exception()
        exc = inner if inner is not None else exc
    kind = "invalid output" if isinstance(exc, OutputInvalid) else type(exc).__name__
    return short(f"{kind}: {exc}")


def async_policy(policy: Retrying) -> AsyncRetrying:
    """The same stop/wait/retry policy for asyncio (sleeps without blocking the loop)."""
    return AsyncRetrying(
        stop=policy.stop,
        wait=policy.wait,
        retry=policy.retry,
        before=policy.before,
        after=policy.after,
        before_sleep=policy.before_sleep,
        reraise=policy.reraise,
        retry_error_cls=policy.retry_error_cls,
    )
