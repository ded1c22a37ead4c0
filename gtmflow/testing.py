"""Fakes for testing code built on gtmflow without a network model.

`ScriptedChatModel` is a LangChain chat model that plays back a script, one step per call, and
supports what real models do: `bind_tools`, `with_structured_output` (tool calling), plain text
and JSON replies, token usage, latency and errors. The stock fake chat models in langchain-core do
not implement `bind_tools`, so they cannot exercise a structured-output path.

Example:
    >>> from pydantic import BaseModel
    >>> class Answer(BaseModel):
    ...     city: str
    >>> model = ScriptedChatModel(script=["{not json", {"city": "Paris"}])
    >>> structured = model.with_structured_output(Answer)
    >>> structured.invoke("Where?")  # the first step is not a tool call: no parse
    >>> structured.invoke("Where? Again.")
    Answer(city='Paris')
    >>> len(model.calls)
    2

Script steps:
    - a `dict` or pydantic model: the reply's tool call arguments when tools are bound (the
      first bound tool's name), else its JSON as the reply text;
    - a `str`: the reply text as given (use it for malformed or prose replies);
    - `ToolArgs("{broken")`: a tool call whose argument string is not valid JSON;
    - an `AIMessage`: returned as is;
    - an exception instance: raised (`ModelHTTPError(429)` simulates a rate limit);
    - a callable `(messages, tools) -> step`: computed from the conversation.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_none

from gtmflow.brains import is_transient

__all__ = ["ModelHTTPError", "ScriptExhausted", "ScriptedChatModel", "ToolArgs", "instant_retrying"]


def instant_retrying(attempts: int = 3) -> Retrying:
    """The transient-error policy of `gtmflow.brains` without the waits, for fast tests.

    Example:
        >>> from gtmflow.brains import Brain
        >>> brain = Brain(ScriptedChatModel(script=[{}]), transient=instant_retrying(2))
    """
    return Retrying(
        stop=stop_after_attempt(attempts),
        wait=wait_none(),
        retry=retry_if_exception(is_transient),
        reraise=True,
    )


class ModelHTTPError(Exception):
    """A provider error with an HTTP status, as SDKs raise them (`429`, `503`, `401`, ...)."""

    def __init__(self, status_code: int, message: str = "") -> None:
        super().__init__(message or f"HTTP {status_code}")
        self.status_code = status_code


class ScriptExhausted(AssertionError):
    """The code under test called the model more often than the script has steps."""


@dataclass(frozen=True)
class ToolArgs:
    """A tool call whose raw argument string is given verbatim (e.g. malformed JSON)."""

    raw: str


Step = dict[str, Any] | BaseModel | str | ToolArgs | AIMessage | BaseException | Callable[..., Any]


class ScriptedChatModel(BaseChatModel):
    """A chat model that replies from a script; for tests, offline and deterministic.

    Attributes:
        script: The replies, one per call, in order.
        repeat_last: Keep replying with the last step once the script runs out (instead of
            raising `ScriptExhausted`).
        tool_calling: False makes the model behave like one without tool support:
            `bind_tools` and `with_structured_output` raise `NotImplementedError`.
        latency: Seconds each call takes (`asyncio.sleep` when awaited, so batches overlap).
        model_name: What the replies report as their model.
        calls: The messages of every call so far, for assertions.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    script: list[Any] = Field(default_factory=list)
    repeat_last: bool = False
    tool_calling: bool = True
    latency: float = 0.0
    model_name: str = "scripted"
    calls: list[list[BaseMessage]] = Field(default_factory=list)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: str | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind tools as OpenAI-style schemas; the script's dict steps become calls to them."""
        if not self.tool_calling:
            raise NotImplementedError("this scripted model has tool_calling=False")
        schemas = [convert_to_openai_tool(tool) for tool in tools]
        return self.bind(tools=schemas, tool_choice=tool_choice, **kwargs)

    def with_structured_output(
        self, schema: dict[str, Any] | type, *, include_raw: bool = False, **kwargs: Any
    ) -> Runnable[LanguageModelInput, dict[str, Any] | BaseModel]:
        """Structured output through tool calling, like most providers."""
        if not self.tool_calling:
            raise NotImplementedError("this scripted model has tool_calling=False")
        return super().with_structured_output(schema, include_raw=include_raw, **kwargs)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        step = self._next(messages)
        if self.latency:
            time.sleep(self.latency)
        return self._result(step, messages, kwargs.get("tools") or [])

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        step = self._next(messages)
        if self.latency:
            await asyncio.sleep(self.latency)
        return self._result(step, messages, kwargs.get("tools") or [])

    def _next(self, messages: list[BaseMessage]) -> Any:
        with self._lock:
            index = len(self.calls)
            self.calls.append(list(messages))
            if index < len(self.script):
                return self.script[index]
            if self.repeat_last and self.script:
                return self.script[-1]
        raise ScriptExhausted(
            f"ScriptedChatModel was called {index + 1} times but its script has "
            f"{len(self.script)} steps; add steps or set repeat_last=True"
        )

    def _result(
        self, step: Any, messages: list[BaseMessage], tools: list[dict[str, Any]]
    ) -> ChatResult:
        if callable(step) and not isinstance(step, BaseModel | type):
            step = step(messages, tools)
        if isinstance(step, BaseException):
            raise step
        message = self._message(step, tools)
        prompt = sum(len(str(m.content)) for m in messages)
        produced = len(str(message.content)) + len(
            json.dumps([c["args"] for c in message.tool_calls])
        )
        message.usage_metadata = {
            "input_tokens": max(1, prompt // 4),
            "output_tokens": max(1, produced // 4),
            "total_tokens": max(1, prompt // 4) + max(1, produced // 4),
        }
        message.response_metadata = {"model_name": self.model_name}
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _message(self, step: Any, tools: list[dict[str, Any]]) -> AIMessage:
        if isinstance(step, AIMessage):
            return step.model_copy(deep=True)
        name = tools[0]["function"]["name"] if tools else None
        call_id = f"call_{len(self.calls)}"
        if isinstance(step, ToolArgs):
            return AIMessage(
                content="",
                invalid_tool_calls=[
                    {"name": name, "args": step.raw, "id": call_id, "error": "not valid JSON",
                     "type": "invalid_tool_call"}
                ],
            )  # fmt: skip
        if isinstance(step, BaseModel):
            step = step.model_dump(mode="json")
        if isinstance(step, dict):
            if name is None:
                return AIMessage(content=json.dumps(step))
            return AIMessage(
                content="",
                tool_calls=[{"name": name, "args": step, "id": call_id, "type": "tool_call"}],
            )
        if isinstance(step, str):
            return AIMessage(content=step)
        raise TypeError(
            f"script step {step!r} is not a dict, model, str, ToolArgs, AIMessage, exception "
            "or callable"
        )
