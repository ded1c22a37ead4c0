"""The scripted chat model users test against: tools, structured output, errors, latency."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from langchain_core.messages import AIMessage, BaseMessage
from pydantic import BaseModel

from gtmflow.testing import ModelHTTPError, ScriptedChatModel, ScriptExhausted, ToolArgs


class Answer(BaseModel):
    city: str


def test_dict_steps_become_tool_calls_when_tools_are_bound() -> None:
    model = ScriptedChatModel(script=[{"city": "Paris"}])
    reply = model.bind_tools([Answer]).invoke("where?")
    assert isinstance(reply, AIMessage)
    assert reply.tool_calls[0]["name"] == "Answer"
    assert reply.tool_calls[0]["args"] == {"city": "Paris"}


def test_dict_steps_are_json_text_without_tools() -> None:
    reply = ScriptedChatModel(script=[{"city": "Paris"}]).invoke("where?")
    assert reply.content == '{"city": "Paris"}'


def test_with_structured_output_parses_into_the_schema() -> None:
    model = ScriptedChatModel(script=[Answer(city="Rome")])
    assert model.with_structured_output(Answer).invoke("where?") == Answer(city="Rome")


def test_include_raw_reports_parse_errors_instead_of_raising() -> None:
    model = ScriptedChatModel(script=[{"town": "Rome"}])
    out: Any = model.with_structured_output(Answer, include_raw=True).invoke("where?")
    assert out["parsed"] is None and out["parsing_error"] is not None
    assert isinstance(out["raw"], AIMessage)


def test_models_without_tools_refuse_tool_binding() -> None:
    model = ScriptedChatModel(script=["{}"], tool_calling=False)
    with pytest.raises(NotImplementedError):
        model.bind_tools([Answer])
    with pytest.raises(NotImplementedError):
        model.with_structured_output(Answer)


def test_text_exception_and_malformed_tool_steps() -> None:
    model = ScriptedChatModel(script=["not json", ModelHTTPError(429), ToolArgs('{"ci')])
    assert model.invoke("a").content == "not json"
    with pytest.raises(ModelHTTPError) as info:
        model.invoke("b")
    assert info.value.status_code == 429
    bad = model.bind_tools([Answer]).invoke("c")
    assert isinstance(bad, AIMessage) and bad.invalid_tool_calls[0]["args"] == '{"ci'


def test_callable_steps_see_the_conversation_and_tools() -> None:
    seen: list[tuple[int, int]] = []

    def reply(messages: list[BaseMessage], tools: list[dict[str, Any]]) -> dict[str, Any]:
        seen.append((len(messages), len(tools)))
        return {"city": str(messages[-1].content).upper()}

    model = ScriptedChatModel(script=[reply])
    assert model.with_structured_output(Answer).invoke("lima") == Answer(city="LIMA")
    assert seen == [(1, 1)]


def test_calls_are_recorded_and_the_script_can_run_out() -> None:
    model = ScriptedChatModel(script=["one"])
    model.invoke("first")
    assert [m.content for m in model.calls[0]] == ["first"]
    with pytest.raises(ScriptExhausted, match="called 2 times but its script has 1 steps"):
        model.invoke("second")
    looping = ScriptedChatModel(script=["again"], repeat_last=True)
    assert [looping.invoke(str(i)).content for i in range(3)] == ["again"] * 3


def test_replies_carry_usage_and_model_name() -> None:
    reply = ScriptedChatModel(script=["hello"], model_name="fake-1").invoke("x" * 40)
    assert isinstance(reply, AIMessage)
    assert reply.usage_metadata is not None and reply.usage_metadata["input_tokens"] == 10
    assert reply.response_metadata["model_name"] == "fake-1"


def test_async_latency_overlaps() -> None:
    model = ScriptedChatModel(script=["ok"], repeat_last=True, latency=0.2)

    async def both() -> list[Any]:
        return await asyncio.gather(model.ainvoke("a"), model.ainvoke("b"), model.ainvoke("c"))

    started = time.perf_counter()
    replies = asyncio.run(both())
    assert [r.content for r in replies] == ["ok"] * 3
    assert time.perf_counter() - started < 0.5
