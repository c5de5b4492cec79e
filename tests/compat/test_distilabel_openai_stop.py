"""`OpenAILLM` sends the stop sequences of a completion prompt only through `carry_stop`."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator

import pytest
from distilabel.models.llms import OpenAILLM

from distilabel_selfinstruct.generation import apply_default_generation_kwargs

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def recording_server() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    bodies: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_: Any) -> None:
            pass

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            reply = {
                "id": "r", "object": "text_completion", "created": 0, "model": "m",
                "choices": [{"index": 0, "text": " yes", "finish_reason": "stop", "logprobs": None}],
                "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
            }  # fmt: skip
            data = json.dumps(reply).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1", bodies
    finally:
        server.shutdown()
        server.server_close()


def _complete(llm: OpenAILLM) -> None:
    llm.load()
    try:
        llm.generate_outputs(inputs=["Task: say yes.\nAnswer:"], **llm.generation_kwargs)
    finally:
        llm.unload()


def test_a_completion_prompt_reaches_the_server_with_its_stop_sequences(
    recording_server: tuple[str, list[dict[str, Any]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    base_url, bodies = recording_server
    monkeypatch.setenv("OPENAI_API_KEY", "test")
    llm = OpenAILLM(model="m", base_url=base_url, max_retries=0)
    apply_default_generation_kwargs(llm, {"max_new_tokens": 4, "stop": ["\nTask:", "Task:"]})
    _complete(llm)
    assert bodies[-1]["stop"] == ["\nTask:", "Task:"]


def test_distilabel_alone_drops_them(
    recording_server: tuple[str, list[dict[str, Any]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The bug the compat module works around; when this fails, distilabel passes `stop`
    # itself and `carry_stop` can go.
    base_url, bodies = recording_server
    monkeypatch.setenv("OPENAI_API_KEY", "test")
    llm = OpenAILLM(model="m", base_url=base_url, max_retries=0)
    llm.generation_kwargs = {"max_new_tokens": 4, "stop": ["Task:"]}
    _complete(llm)
    assert "stop" not in bodies[-1]
