"""Brains: resolution, the structured call path, re-asks, transient retries, fallback, batches."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage, ToolMessage
from pydantic import BaseModel, Field
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_none

from gtmflow.batch import RateLimiter, run_batch
from gtmflow.brains import (
    Brain,
    BrainsConfig,
    OutputInvalid,
    is_transient,
    resolve_brain,
)
from gtmflow.errors import ConfigError, RunError
from gtmflow.prompts import RenderedPrompt
from gtmflow.testing import ModelHTTPError, ScriptedChatModel, ToolArgs, instant_retrying

PROMPT = RenderedPrompt("demo_task", 3, "You extract cities.", "Where is the Louvre?")


class City(BaseModel):
    name: str
    population: int = Field(ge=0)


def rules() -> City:
    return City(name="rules", population=0)


def brain(*script: Any, **options: Any) -> tuple[Brain, ScriptedChatModel]:
    model = ScriptedChatModel(script=list(script), **options.pop("model", {}))
    return Brain(model, transient=instant_retrying(3), **options), model


def test_valid_output_records_brain_model_prompt_tokens_and_latency() -> None:
    b, model = brain({"name": "Paris", "population": 2_100_000})
    outcome = b.run(City, PROMPT, rules=rules)
    assert outcome.output == City(name="Paris", population=2_100_000)
    run = outcome.run
    assert (run.brain, run.model, run.produced_by) == ("ScriptedChatModel", "scripted", "llm")
    assert (run.prompt_id, run.prompt_version, run.prompt_digest) == ("demo_task", 3, PROMPT.digest)
    assert run.input_tokens > 0 and run.output_tokens > 0
    assert run.latency_ms >= 0 and (run.attempts, run.reasks, run.fallback) == (1, 0, False)
    assert len(model.calls) == 1


def test_malformed_json_then_valid_reasks_quoting_the_problem() -> None:
    b, model = brain('{"name": "Paris", "population": ', {"name": "Paris", "population": 1})
    outcome = b.run(City, PROMPT, rules=rules)
    assert outcome.output.name == "Paris"
    assert (outcome.run.attempts, outcome.run.reasks, outcome.run.fallback) == (2, 1, False)
    reask = model.calls[1][-1]
    assert isinstance(reask, HumanMessage)
    assert "did not validate against 'City'" in str(reask.content)
    assert "no JSON object" in str(reask.content)


def test_a_validation_error_is_quoted_back_after_a_tool_call() -> None:
    b, model = brain({"name": "Paris", "population": -5}, {"name": "Paris", "population": 5})
    outcome = b.run(City, PROMPT, rules=rules)
    assert outcome.output.population == 5
    call, reply = model.calls[1][-2], model.calls[1][-1]
    assert isinstance(reply, ToolMessage)
    assert reply.tool_call_id == call.tool_calls[0]["id"]  # type: ignore[attr-defined]
    assert "population: Input should be greater than or equal to 0 (got -5)" in str(reply.content)


def test_invalid_tool_arguments_are_reasked_against_the_same_call_id() -> None:
    b, model = brain(ToolArgs('{"name": "Par'), {"name": "Paris", "population": 1})
    assert b.run(City, PROMPT, rules=rules).run.reasks == 1
    reply = model.calls[1][-1]
    assert isinstance(reply, ToolMessage) and "not valid JSON" in str(reply.content)


def test_schema_violation_every_time_falls_back_to_rules_with_the_reason() -> None:
    b, model = brain({"name": 42}, model={"repeat_last": True}, max_retries=2)
    outcome = b.run(City, PROMPT, rules=rules)
    assert outcome.output == rules()
    run = outcome.run
    assert run.fallback and run.produced_by == "rules"
    assert run.attempts == 3 and run.reasks == 2 and len(model.calls) == 3
    assert run.fallback_reason is not None and run.fallback_reason.startswith("invalid output")
    assert "name: Input should be a valid string" in run.fallback_reason


def test_max_retries_accepts_a_tenacity_retrying() -> None:
    policy = Retrying(
        stop=stop_after_attempt(2), retry=retry_if_exception_type(OutputInvalid), wait=wait_none()
    )
    b, model = brain("nope", model={"repeat_last": True}, max_retries=policy)
    assert b.run(City, PROMPT, rules=rules).run.fallback
    assert len(model.calls) == 2


def test_transient_errors_retry_then_succeed() -> None:
    b, _ = brain(ModelHTTPError(429), TimeoutError("slow"), {"name": "Rome", "population": 2})
    outcome = b.run(City, PROMPT, rules=rules)
    assert outcome.output.name == "Rome"
    assert (outcome.run.attempts, outcome.run.reasks) == (3, 0)


def test_transient_retries_are_bounded_and_never_stacked_with_reasks() -> None:
    b, model = brain(ModelHTTPError(503), model={"repeat_last": True}, max_retries=5)
    outcome = b.run(City, PROMPT, rules=rules)
    assert outcome.run.fallback and len(model.calls) == 3  # 3 transient attempts, no re-asks
    assert outcome.run.fallback_reason == "ModelHTTPError: HTTP 503"


def test_a_permanent_error_is_not_retried() -> None:
    b, model = brain(ModelHTTPError(401, "bad key"), {"name": "x", "population": 1})
    outcome = b.run(City, PROMPT, rules=rules)
    assert outcome.run.fallback and len(model.calls) == 1
    assert outcome.run.fallback_reason == "ModelHTTPError: bad key"


def test_on_failure_raise_raises_a_run_error() -> None:
    b, _ = brain("nope", model={"repeat_last": True}, on_failure="raise", max_retries=0)
    with pytest.raises(RunError, match="brain 'ScriptedChatModel' failed for prompt 'demo_task'"):
        b.run(City, PROMPT, rules=rules)


def test_models_without_tool_calling_get_the_schema_and_answer_in_json() -> None:
    reply = 'Here you go:\n```json\n{"name": "Oslo", "population": 700000}\n```'
    b, model = brain(reply, model={"tool_calling": False})
    assert b.run(City, PROMPT, rules=rules).output.name == "Oslo"
    assert '"population"' in str(model.calls[0][-1].content)  # the JSON schema was appended


def test_check_hook_turns_a_semantic_problem_into_a_reask() -> None:
    b, model = brain({"name": "paris", "population": 1}, {"name": "Paris", "population": 1})

    def capitalised(city: City) -> str | None:
        return None if city.name[:1].isupper() else "name must be capitalised"

    outcome = b.run(City, PROMPT, rules=rules, check=capitalised)
    assert outcome.output.name == "Paris" and outcome.run.reasks == 1
    assert "name must be capitalised" in str(model.calls[1][-1].content)


def test_rules_brain_calls_no_model_and_records_it() -> None:
    outcome = Brain().run(City, PROMPT, rules=rules)
    assert outcome.output == rules()
    assert (outcome.run.brain, outcome.run.model, outcome.run.produced_by) == (
        "rules",
        "rules",
        "rules",
    )
    assert not outcome.run.fallback and outcome.run.prompt_id == "demo_task"


def test_async_run_uses_the_same_policies() -> None:
    b, _ = brain(ModelHTTPError(429), "{bad", {"name": "Lima", "population": 9})
    outcome = asyncio.run(b.arun(City, PROMPT, rules=rules))
    assert outcome.output.name == "Lima"
    assert (outcome.run.attempts, outcome.run.reasks) == (3, 1)


def test_batch_runs_concurrently_within_the_bound() -> None:
    model = ScriptedChatModel(
        script=[{"name": "x", "population": 1}], repeat_last=True, latency=0.2
    )
    b = Brain(model)
    in_flight = peak = 0

    async def one(_: int) -> str:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        try:
            return (await b.arun(City, PROMPT, rules=rules)).run.produced_by
        finally:
            in_flight -= 1

    started = time.perf_counter()
    results = asyncio.run(run_batch(one, range(10), concurrency=5))
    assert results == ["llm"] * 10
    assert peak == 5
    assert time.perf_counter() - started < 1.5  # 2 waves of 0.2 s, not 10 x 0.2 s


def test_batch_errors_can_be_returned_in_place() -> None:
    async def fails_on_two(x: int) -> int:
        if x == 2:
            raise ValueError("two")
        return x

    out = asyncio.run(run_batch(fails_on_two, range(4), concurrency=2, errors="return"))
    assert out[:2] == [0, 1] and isinstance(out[2], ValueError) and out[3] == 3
    with pytest.raises(ExceptionGroup):
        asyncio.run(run_batch(fails_on_two, range(4), concurrency=2))


def test_rate_limiter_spaces_calls() -> None:
    async def go() -> float:
        limiter = RateLimiter(20, burst=1)
        started = asyncio.get_running_loop().time()
        for _ in range(6):
            await limiter.acquire()
        return asyncio.get_running_loop().time() - started

    assert 0.2 <= asyncio.run(go()) < 1.0  # 5 waits of 50 ms after the first token


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (TimeoutError(), True),
        (ConnectionError(), True),
        (ModelHTTPError(429), True),
        (ModelHTTPError(500), True),
        (ModelHTTPError(529), True),
        (ModelHTTPError(400), False),
        (ModelHTTPError(401), False),
        (type("RateLimitError", (Exception,), {})(), True),
        (type("APITimeoutError", (Exception,), {})(), True),
        (ValueError("bad"), False),
    ],
)
def test_is_transient(exc: BaseException, expected: bool) -> None:
    assert is_transient(exc) is expected


# ---------------------------------------------------------------------------- resolution


class Made:
    """Records what `resolve_brain` asked the factory for."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, spec: str, **options: Any) -> BaseChatModel:
        self.calls.append((spec, options))
        return ScriptedChatModel(model_name=spec)


def write_toml(root: Path, text: str) -> Path:
    (root / "gtmflow.toml").write_text(text, encoding="utf-8")
    return root


def test_default_is_rules() -> None:
    assert resolve_brain(agent="transcript_analyst", env={}).is_rules


def test_precedence_explicit_then_env_then_toml(tmp_path: Path) -> None:
    root = write_toml(
        tmp_path,
        '[brains]\ndefault = "anthropic:claude-x"\ntranscript_analyst = "ollama:qwen3"\n',
    )
    made = Made()

    def pick(spec: Any = None, **env: str) -> str:
        return resolve_brain(
            spec, agent="transcript_analyst", root=root, env=env, chat_model_factory=made
        ).name

    assert pick() == "ollama:qwen3"
    assert resolve_brain(agent="next_action", root=root, env={}, chat_model_factory=made).name == (
        "anthropic:claude-x"
    )
    assert pick(GTMFLOW_BRAIN="openai:gpt-4.1-mini") == "openai:gpt-4.1-mini"
    assert pick(GTMFLOW_BRAIN="rules", GTMFLOW_BRAIN_TRANSCRIPT_ANALYST="groq:llama") == (
        "groq:llama"
    )
    assert pick("rules", GTMFLOW_BRAIN="openai:x") == "rules"
    model = ScriptedChatModel()
    assert resolve_brain(model, agent="a", env={"GTMFLOW_BRAIN": "openai:x"}).model is model


def test_table_options_go_to_the_factory_and_providers_do_not_retry(tmp_path: Path) -> None:
    root = write_toml(
        tmp_path,
        "[brains.next_action]\n"
        'model = "openai:smollm2"\nbase_url = "http://127.0.0.1:8080/v1"\ntemperature = 0\n'
        "max_retries = 4\n",
    )
    made = Made()
    chosen = resolve_brain(agent="next_action", root=root, env={}, chat_model_factory=made)
    spec, options = made.calls[0]
    assert spec == "openai:smollm2"
    assert options == {"base_url": "http://127.0.0.1:8080/v1", "temperature": 0, "max_retries": 0}
    assert chosen.max_retries == 4  # re-asks are the brain's; the SDK's own retries are off


def test_real_init_chat_model_errors_become_config_errors() -> None:
    pytest.importorskip("langchain")
    with pytest.raises(ConfigError, match="not a model LangChain can build"):
        resolve_brain("nosuchprovider:model", agent="a", env={})
    try:
        import langchain_openai  # noqa: F401
    except ImportError:
        with pytest.raises(ConfigError, match="pip install 'gtmflow\\[openai\\]'"):
            resolve_brain("openai:gpt-4.1-mini", agent="a", env={})


def test_bad_config_is_explained(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        BrainsConfig.load(write_toml(tmp_path, "[brains\n"))
    write_toml(tmp_path, "[brains]\nnext_action = { temperature = 0 }\n")
    with pytest.raises(ConfigError, match='a table needs model = "provider:model"'):
        resolve_brain(agent="next_action", root=tmp_path, env={})
    with pytest.raises(ConfigError, match="max_retries=-1 must be >= 0"):
        Brain(ScriptedChatModel(), max_retries=-1)


def test_json_mode_puts_the_schema_in_the_prompt() -> None:
    b, model = brain({"name": "Oslo", "population": 1}, method="json_mode")
    assert b.run(City, PROMPT, rules=rules).output.name == "Oslo"
    assert '"population"' in str(model.calls[0][-1].content)
    assert (
        resolve_brain(
            agent="a",
            config=BrainsConfig(default={"model": "x:y", "method": "json_mode"}),
            env={},
            chat_model_factory=Made(),
        ).method
        == "json_mode"
    )
