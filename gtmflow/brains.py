"""Model selection and the one way agents call a model: structured, bounded, recorded.

A *brain* is what an agent thinks with: `"rules"` (the offline, deterministic default), a
`"provider:model"` string resolved with LangChain's `init_chat_model` (`"openai:gpt-4.1-mini"`,
`"anthropic:claude-sonnet-4-5"`, `"ollama:qwen3"`, any OpenAI-compatible server with
`base_url`), or a LangChain `BaseChatModel` instance. `resolve_brain` picks one per agent from,
in order: the explicit argument, `GTMFLOW_BRAIN_<AGENT>`, `GTMFLOW_BRAIN`, the workspace's
`gtmflow.toml` `[brains]` table (agent key, then `default`), and finally `"rules"`:

```toml
[brains]
default = "rules"
transcript_analyst = "openai:gpt-4.1-mini"
next_action = { model = "openai:smollm2", base_url = "http://127.0.0.1:8080/v1", temperature = 0 }
```

`Brain.run(schema, prompt, rules=...)` is the call path. With an LLM it asks for structured output
in the pydantic `schema` (tool calling or JSON mode, whichever the model supports; a plain JSON
parse of the reply as last resort). A reply that does not validate becomes a re-ask that quotes
the error, bounded by `max_retries: int | tenacity.Retrying`. Transient errors (timeouts, 429,
5xx) retry inside one ask with tenacity, jittered and bounded; models built from strings get
`max_retries=0` so the provider SDK does not retry underneath (one owner per retry). When all that
is exhausted the agent's rules backend answers and the result says `fallback=True` and why. Every
`Outcome` carries a `BrainRun`: brain, model, prompt id and version, tokens, latency, attempts.
"""

from __future__ import annotations

import json
import os
import time
import tomllib
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeAlias, TypeVar

from langchain_core.exceptions import OutputParserException
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from tenacity import (
    Retrying,
    retry_if_exception,
    retry_if_exception_type,
    stop_after_attempt,
    stop_after_delay,
    wait_random_exponential,
)

from gtmflow._structured import (
    OutputInvalid,
    async_policy,
    explain,
    failure_reason,
    json_instruction,
    parse_json_text,
    reask_messages,
    short,
)
from gtmflow.errors import ConfigError, FallbackWarning, RunError

if TYPE_CHECKING:
    from gtmflow.prompts import RenderedPrompt

__all__ = [
    "BRAIN_ENV",
    "Brain",
    "BrainRun",
    "BrainSpec",
    "BrainsConfig",
    "Outcome",
    "OutputInvalid",
    "is_transient",
    "resolve_brain",
    "transient_retrying",
]

T = TypeVar("T", bound=BaseModel)
BRAIN_ENV = "GTMFLOW_BRAIN"
"""Environment variable naming the brain of every agent; `GTMFLOW_BRAIN_<AGENT>` for one."""

_NO_SDK_RETRY = {
    "openai", "anthropic", "azure_openai", "groq", "mistralai", "deepseek", "xai", "fireworks",
    "together",
}  # fmt: skip
_TRANSIENT_STATUS = {408, 409, 425, 429, 500, 502, 503, 504, 529}
_TRANSIENT_NAMES = {
    "APITimeoutError", "APIConnectionError", "RateLimitError", "InternalServerError",
    "ServiceUnavailableError", "OverloadedError", "TimeoutException", "ConnectError",
    "ReadTimeout", "ConnectTimeout", "RemoteProtocolError", "ReadError",
}  # fmt: skip


class BrainRun(BaseModel):
    """How one agent result was produced: by whom, with which prompt, at what cost."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    brain: str = Field(description="The configured brain: 'rules', 'provider:model' or a class.")
    model: str = Field(description="The model that answered, as it reported itself.")
    produced_by: Literal["rules", "llm"] = Field(description="Which backend wrote the output.")
    prompt_id: str | None = None
    prompt_version: int | None = None
    prompt_digest: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    latency_ms: float = 0.0
    attempts: int = Field(default=0, description="Model calls made, transient retries included.")
    reasks: int = Field(default=0, description="Re-asks after output that did not validate.")
    fallback: bool = Field(default=False, description="The LLM failed; rules answered instead.")
    fallback_reason: str | None = None


@dataclass(frozen=True)
class Outcome(Generic[T]):
    """An agent backend's typed output and the record of how it was produced."""

    output: T
    run: BrainRun


def is_transient(exc: BaseException) -> bool:
    """Whether an error is worth retrying: timeouts, connection drops, 408/409/425/429, 5xx.

    Works without importing any provider SDK: it reads `status_code` (on the exception or its
    `response`) and the exception class names of the OpenAI, Anthropic and httpx clients.
    """
    if isinstance(exc, TimeoutError | ConnectionError):
        return True
    status = getattr(exc, "status_code", None) or getattr(
        getattr(exc, "response", None), "status_code", None
    )
    if isinstance(status, int):
        return status in _TRANSIENT_STATUS or status >= 500
    return any(cls.__name__ in _TRANSIENT_NAMES for cls in type(exc).__mro__)


def transient_retrying(
    *, attempts: int = 4, max_wait: float = 20.0, initial: float = 0.5, budget: float = 120.0
) -> Retrying:
    """The default transient-error policy: jittered exponential backoff, bounded twice.

    Args:
        attempts: Calls at most, the first included.
        max_wait: Longest single wait in seconds.
        initial: Scale of the first wait in seconds.
        budget: Stop retrying once this many seconds have passed since the first call.
    """
    return Retrying(
        stop=stop_after_attempt(attempts) | stop_after_delay(budget),
        wait=wait_random_exponential(multiplier=initial, max=max_wait),
        retry=retry_if_exception(is_transient),
        reraise=True,
    )


class Brain:
    """A resolved brain: the rules backend, or a chat model plus its retry policies.

    Args:
        model: The chat model; None means the rules backend.
        name: What results record as `brain` (the spec string, or the model's class name).
        max_retries: Re-asks after invalid output (an int), or a `tenacity.Retrying` that retries
            on `OutputInvalid` to control stops and waits yourself.
        transient: The tenacity policy for transient errors inside one ask.
        on_failure: "fallback" answers with the rules backend when the LLM path is exhausted
            and issues a `FallbackWarning`; "error" raises a `RunError` instead ("raise" is
            the same as "error").
        agent: The agent this brain thinks for (named in warnings and errors).
        method: How to ask for structured output, passed to `with_structured_output`
            ("function_calling", "json_mode", "json_schema"); None lets the provider choose.
            Local OpenAI-compatible servers often need "json_mode" (the schema then goes into
            the prompt).
    """

    def __init__(
        self,
        model: BaseChatModel | None = None,
        *,
        name: str | None = None,
        max_retries: int | Retrying = 2,
        transient: Retrying | None = None,
        on_failure: Literal["fallback", "error", "raise"] = "fallback",
        method: Literal["function_calling", "json_mode", "json_schema"] | None = None,
        agent: str | None = None,
    ) -> None:
        if isinstance(max_retries, int) and max_retries < 0:
            raise ConfigError(f"max_retries={max_retries} must be >= 0 (0 means no re-ask)")
        if on_failure not in ("fallback", "error", "raise"):
            raise ConfigError(f"on_failure={on_failure!r}: choose 'fallback' or 'error'")
        self.model = model
        self.name = name or ("rules" if model is None else type(model).__name__)
        self.max_retries = max_retries
        self.transient = transient or transient_retrying()
        self.on_failure: Literal["fallback", "error"] = (
            "error" if on_failure == "raise" else on_failure
        )
        self.method = method
        self.agent = agent
        self._structured: dict[type[BaseModel], Any] = {}  # schema -> runnable, or None: JSON

    def structured(self, schema: type[BaseModel]) -> Any:
        """The model wrapped for structured output in `schema` (built once per schema); None
        when the model has no structured output, so replies are parsed as JSON text."""
        if schema not in self._structured:
            assert self.model is not None
            options = {"method": self.method} if self.method else {}
            try:
                self._structured[schema] = self.model.with_structured_output(
                    schema, include_raw=True, **options
                )
            except NotImplementedError:
                self._structured[schema] = None
        return self._structured[schema]

    @property
    def is_rules(self) -> bool:
        """True for the offline rules backend."""
        return self.model is None

    def __repr__(self) -> str:
        return f"Brain({self.name!r})"

    def run(
        self,
        schema: type[T],
        prompt: RenderedPrompt,
        *,
        rules: Callable[[], T],
        check: Callable[[T], str | None] | None = None,
    ) -> Outcome[T]:
        """Produce a `schema` instance with the LLM (bounded, recorded) or the rules backend.

        Args:
            schema: The pydantic model the LLM must fill; its field descriptions are prompt text.
            prompt: The rendered prompt (its id and version are recorded).
            rules: The rules backend; used for `brain="rules"` and as the fallback.
            check: Extra validation after the schema: return an error message to re-ask with,
                or None when the value is acceptable.
        """
        if self.model is None:
            return _rules_outcome(self.name, rules, prompt)
        call = _Call(self, schema, prompt, check)
        try:
            for attempt in self._reask_policy():
                with attempt:
                    call.asks += 1
                    return call.finish(call.interpret(*self._ask(call)))
        except Exception as exc:
            return self._give_up(call, exc, rules)
        raise AssertionError("unreachable: tenacity either returns, raises or retries")

    async def arun(
        self,
        schema: type[T],
        prompt: RenderedPrompt,
        *,
        rules: Callable[[], T],
        check: Callable[[T], str | None] | None = None,
    ) -> Outcome[T]:
        """`run` for asyncio: the same policies, awaiting the model instead of blocking."""
        if self.model is None:
            return _rules_outcome(self.name, rules, prompt)
        call = _Call(self, schema, prompt, check)
        try:
            async for attempt in async_policy(self._reask_policy()):
                with attempt:
                    call.asks += 1
                    return call.finish(call.interpret(*await self._aask(call)))
        except Exception as exc:
            return self._give_up(call, exc, rules)
        raise AssertionError("unreachable: tenacity either returns, raises or retries")

    def _reask_policy(self) -> Retrying:
        if isinstance(self.max_retries, Retrying):
            return self.max_retries.copy()
        return Retrying(
            stop=stop_after_attempt(self.max_retries + 1),
            retry=retry_if_exception_type(OutputInvalid),
            reraise=True,
        )

    def _ask(self, call: _Call[Any]) -> tuple[AIMessage, Any]:
        for attempt in self.transient.copy():
            with attempt, call.parsing():
                call.attempts += 1
                return call.reply(call.runnable().invoke(call.messages))
        raise AssertionError("unreachable")

    async def _aask(self, call: _Call[Any]) -> tuple[AIMessage, Any]:
        async for attempt in async_policy(self.transient):
            with attempt, call.parsing():
                call.attempts += 1
                return call.reply(await call.runnable().ainvoke(call.messages))
        raise AssertionError("unreachable")

    def _give_up(self, call: _Call[T], exc: BaseException, rules: Callable[[], T]) -> Outcome[T]:
        if isinstance(exc, AssertionError | NameError):
            raise exc  # a bug or an exhausted test script, not a model failure
        reason = failure_reason(exc)
        if self.on_failure == "error":
            raise RunError(
                f"brain '{self.name}' failed for prompt '{call.prompt.id}' after "
                f"{call.attempts} call(s): {reason}; set on_failure='fallback' to use the rules "
                "backend instead"
            ) from exc
        agent = self.agent or call.prompt.id
        warnings.warn(FallbackWarning(agent, self.name, reason), stacklevel=2)
        output = rules()
        return Outcome(output, call.record(produced_by="rules", reason=reason))


BrainSpec: TypeAlias = "str | BaseChatModel | Brain | None"
"""What `brain=` accepts everywhere: "rules", "provider:model", a chat model, or a `Brain`."""


class _Call(Generic[T]):
    """The mutable bookkeeping of one `Brain.run`: messages so far, counts, tokens."""

    def __init__(
        self,
        brain: Brain,
        schema: type[T],
        prompt: RenderedPrompt,
        check: Callable[[T], str | None] | None,
    ) -> None:
        assert brain.model is not None
        self.brain, self.model, self.schema, self.prompt, self.check = (
            brain,
            brain.model,
            schema,
            prompt,
            check,
        )
        self.messages: list[BaseMessage] = [
            SystemMessage(prompt.system),
            HumanMessage(prompt.user),
        ]
        self.asks = self.attempts = self.input_tokens = self.output_tokens = 0
        self.model_name = brain.name
        self.started = time.perf_counter()
        self._runnable: Any = None

    def runnable(self) -> Any:
        """The model wrapped for structured output, or bare (JSON in the text) if unsupported."""
        if self._runnable is None:
            self._runnable = self.brain.structured(self.schema)
            if self._runnable is None or self.brain.method == "json_mode":
                self.messages[-1] = HumanMessage(self.prompt.user + json_instruction(self.schema))
            if self._runnable is None:
                self._runnable = self.model
        return self._runnable

    @contextmanager
    def parsing(self) -> Iterator[None]:
        """Clients that parse inside the call (OpenAI's json_schema mode) raise on bad JSON:
        that is invalid output too, so it becomes a re-ask quoting the error."""
        try:
            yield
        except (ValidationError, OutputParserException, json.JSONDecodeError) as exc:
            raw = getattr(exc, "llm_output", None)
            error = explain(exc) if isinstance(exc, ValidationError) else short(str(exc))
            reply = AIMessage(content=str(raw)) if raw else None
            self.messages.extend(reask_messages(reply, error, self.schema))
            raise OutputInvalid(error) from exc

    def reply(self, result: Any) -> tuple[AIMessage, Any]:
        """A structured or bare reply as (message, parsed value or None), counting tokens."""
        raw = result["raw"] if isinstance(result, dict) else result
        if not isinstance(raw, AIMessage):
            raise OutputInvalid(f"the model returned {type(raw).__name__}, not an AI message")
        usage = raw.usage_metadata
        if usage is not None:
            self.input_tokens += int(usage.get("input_tokens", 0))
            self.output_tokens += int(usage.get("output_tokens", 0))
        meta = raw.response_metadata or {}
        self.model_name = str(meta.get("model_name") or meta.get("model") or self.model_name)
        return raw, result.get("parsed") if isinstance(result, dict) else None

    def interpret(self, raw: AIMessage, parsed: Any) -> T:
        """The validated value of a reply, or `OutputInvalid` after queueing the re-ask."""
        error: str | None
        value: T | None
        if isinstance(parsed, self.schema):
            value, error = parsed, None
        else:
            value, error = parse_json_text(raw, self.schema)
        if value is not None and self.check is not None:
            error = self.check(value)
        if error is None and value is not None:
            return value
        self.messages.extend(reask_messages(raw, error or "no usable output", self.schema))
        raise OutputInvalid(error or "no usable output")

    def finish(self, value: T) -> Outcome[T]:
        """Wrap a validated value; re-asks that led to it stay counted."""
        return Outcome(value, self.record(produced_by="llm", reason=None))

    def record(self, *, produced_by: Literal["rules", "llm"], reason: str | None) -> BrainRun:
        """The `BrainRun` of this call so far."""
        return BrainRun(
            brain=self.brain.name,
            model=self.model_name,
            produced_by=produced_by,
            prompt_id=self.prompt.id,
            prompt_version=self.prompt.version,
            prompt_digest=self.prompt.digest,
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            latency_ms=round((time.perf_counter() - self.started) * 1000, 3),
            attempts=self.attempts,
            reasks=max(0, self.asks - 1),
            fallback=produced_by == "rules",
            fallback_reason=reason,
        )


def _rules_outcome(name: str, rules: Callable[[], T], prompt: RenderedPrompt) -> Outcome[T]:
    started = time.perf_counter()
    output = rules()
    return Outcome(
        output,
        BrainRun(
            brain=name,
            model="rules",
            produced_by="rules",
            prompt_id=prompt.id,
            prompt_version=prompt.version,
            prompt_digest=prompt.digest,
            latency_ms=round((time.perf_counter() - started) * 1000, 3),
        ),
    )


# ---------------------------------------------------------------------------- resolution


@dataclass(frozen=True)
class BrainsConfig:
    """The `[brains]` table of a workspace's `gtmflow.toml`: a default and per-agent choices.

    Each value is a brain string, or a table with `model` plus options passed to
    `init_chat_model` (`base_url`, `temperature`, `timeout`, ...) and the brain's own
    `max_retries` (re-asks), `on_failure` and `method` (structured-output method).
    """

    default: str | dict[str, Any] = "rules"
    agents: Mapping[str, str | dict[str, Any]] = field(default_factory=dict)
    on_failure: Literal["fallback", "error"] = "fallback"
    """What every LLM brain does when its calls are exhausted (a per-agent table may override)."""

    @classmethod
    def load(cls, root: str | Path) -> BrainsConfig:
        """Read `root/gtmflow.toml`; a missing file or table means every agent uses rules."""
        path = Path(root) / "gtmflow.toml"
        if not path.exists():
            return cls()
        try:
            table = tomllib.loads(path.read_text(encoding="utf-8")).get("brains", {})
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"'{path}' is not valid TOML: {exc}; fix the line it names") from None
        if not isinstance(table, dict):
            raise ConfigError(f"'{path}': [brains] must be a table, e.g. default = \"rules\"")
        default = table.get("default", "rules")
        on_failure = table.get("on_failure", "fallback")
        if on_failure not in ("fallback", "error"):
            raise ConfigError(
                f"'{path}': [brains] on_failure = {on_failure!r}; choose \"fallback\" (answer "
                'with the rules backend and warn) or "error" (stop with an error)'
            )
        agents = {k: v for k, v in table.items() if k not in ("default", "on_failure")}
        return cls(default=default, agents=agents, on_failure=on_failure)

    def for_agent(self, agent: str) -> str | dict[str, Any]:
        """The configured choice for one agent (its own key, else `default`)."""
        return self.agents.get(agent, self.default)


def resolve_brain(
    spec: str | BaseChatModel | Brain | None = None,
    *,
    agent: str = "default",
    config: BrainsConfig | None = None,
    root: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    max_retries: int | Retrying | None = None,
    transient: Retrying | None = None,
    chat_model_factory: Callable[..., BaseChatModel] | None = None,
) -> Brain:
    """Resolve what an agent thinks with.

    Precedence: `spec` > env `GTMFLOW_BRAIN_<AGENT>` > env `GTMFLOW_BRAIN` > `gtmflow.toml`
    `[brains] <agent>` > `[brains] default` > `"rules"`.

    Args:
        spec: "rules", "provider:model", a chat model, a `Brain`, or None to look it up.
        agent: The agent's config key, e.g. "transcript_analyst".
        config: Parsed `[brains]` settings; read from `root/gtmflow.toml` when None.
        root: Workspace folder whose `gtmflow.toml` to read (None: no file).
        env: Environment to read (default: `os.environ`).
        max_retries: Re-ask policy; overrides the config's.
        transient: Transient-error policy (default: `transient_retrying()`).
        chat_model_factory: Builds a model from "provider:model" and options (default:
            LangChain's `init_chat_model`); tests and custom registries plug in here.
    """
    if isinstance(spec, Brain):
        return spec
    if config is None:
        config = BrainsConfig.load(root) if root is not None else BrainsConfig()
    choice = spec if spec is not None else _configured(agent, config, env)
    options: dict[str, Any] = {}
    if isinstance(choice, dict):
        options = dict(choice)
        choice = options.pop("model", None)
        if not isinstance(choice, str):
            raise ConfigError(
                f'[brains] {agent}: a table needs model = "provider:model", got {choice!r}'
            )
    brain_options: dict[str, Any] = {"on_failure": config.on_failure, "agent": agent}
    brain_options |= {
        k: options.pop(k) for k in ("max_retries", "on_failure", "method") if k in options
    }
    if max_retries is not None:
        brain_options["max_retries"] = max_retries
    if isinstance(choice, BaseChatModel):
        return Brain(choice, transient=transient, **brain_options)
    if not isinstance(choice, str):
        raise ConfigError(
            f"brain for '{agent}' must be 'rules', 'provider:model' or a chat model, "
            f"got {type(choice).__name__}"
        )
    if choice.strip() == "rules":
        return Brain(None, name="rules", agent=agent)
    model = _chat_model(choice.strip(), options, chat_model_factory)
    return Brain(model, name=choice.strip(), transient=transient, **brain_options)


def _configured(
    agent: str, config: BrainsConfig, env: Mapping[str, str] | None
) -> str | dict[str, Any]:
    environ = os.environ if env is None else env
    for name in (f"{BRAIN_ENV}_{agent.upper()}", BRAIN_ENV):
        if environ.get(name, "").strip():
            return environ[name].strip()
    return config.for_agent(agent)


def _chat_model(
    choice: str, options: dict[str, Any], factory: Callable[..., BaseChatModel] | None
) -> BaseChatModel:
    provider = choice.partition(":")[0] if ":" in choice else ""
    if provider in _NO_SDK_RETRY:
        options.setdefault("max_retries", 0)  # tenacity owns transient retries
    if factory is None:
        try:
            from langchain.chat_models import init_chat_model
        except ImportError:
            raise ConfigError(
                f"brain '{choice}' needs the 'langchain' package for init_chat_model; "
                "pip install 'langchain>=1.0' (or pass a chat model instance)"
            ) from None
        factory = init_chat_model
    try:
        return factory(choice, **options)
    except ImportError as exc:
        raise ConfigError(
            f"brain '{choice}': the provider's package is not installed ({exc}); e.g. "
            f"pip install 'gtmflow[{provider or 'openai'}]'"
        ) from None
    except (ValueError, TypeError) as exc:
        raise ConfigError(
            f"brain '{choice}' is not a model LangChain can build: {exc}; write "
            "'provider:model', e.g. 'openai:gpt-4.1-mini' or 'ollama:qwen3', or 'rules'"
        ) from None
    except Exception as exc:  # provider SDKs raise their own types, e.g. a missing API key
        raise ConfigError(
            f"brain '{choice}' could not be created: {exc}; check the provider's settings "
            "(API key environment variable, base_url) or use 'rules'"
        ) from None
