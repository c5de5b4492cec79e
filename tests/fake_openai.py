"""A small OpenAI-compatible server of the tests' own: scripted chat replies that make a
Self-Instruct run finish (novel instructions, instances, labels), or a chosen failure.

Run as a process, so a test can kill it, restart it or point a run at it:

    python -m tests.fake_openai --mode ok [--delay-s 0.05] [--port 0]

It prints `PORT <n>` on its first line once it listens. Modes: `ok`; `error500` (every
request fails with HTTP 500); `unauthorized` (HTTP 401, as a wrong API key gets);
`garbage` (HTTP 200 with a body that is not JSON); `ok-then-500` (`--fail-after` good
replies, then 500s, as a server that breaks mid-run).
"""

from __future__ import annotations

import argparse
import itertools
import json
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# Template words and topic words are disjoint, and no two topics share a word, so any two
# generated instructions stay well under ROUGE-L 0.7 (at most 4 of 9 words in common).
TEMPLATES = [
    "Explain {} to a child.",
    "Write a haiku about {}.",
    "List three facts about {}.",
    "Summarize the history of {}.",
    "Give two arguments against {}.",
    "Describe a typical day involving {}.",
    "Suggest a quiz question on {}.",
    "Compare modern and ancient {}.",
    "Draft a tweet praising {}.",
    "Name common myths regarding {}.",
    "Outline a lesson plan covering {}.",
    "Invent a riddle whose answer is {}.",
]
TOPICS = [
    "arctic tern migration",
    "sourdough starter cultures",
    "volcanic island formation",
    "medieval castle sieges",
    "quantum dot displays",
    "honeybee swarming behaviour",
    "marathon pacing strategies",
    "tomato plant watering",
    "Roman senate debates",
    "bicycle chain maintenance",
    "cloud storage pricing",
    "coral reef bleaching",
    "mortgage interest calculations",
    "jazz chord voicings",
    "desert cactus adaptations",
    "submarine sonar systems",
    "origami crane folding",
    "glacier calving events",
    "chess endgame tablebases",
    "lighthouse keeper duties",
]


def instructions() -> list[str]:
    """Distinct novel instructions, topics cycling fastest (240 in all)."""
    pairs = itertools.product(range(len(TEMPLATES)), range(len(TOPICS)))
    ordered = sorted(pairs, key=lambda p: (p[1] - p[0]) % len(TOPICS) * 100 + p[0])
    return [TEMPLATES[t].format(TOPICS[p]) for t, p in ordered]


class Script:
    """What the server answers, by prompt kind; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._instructions = itertools.cycle(instructions())
        self._classifications = itertools.cycle(["No", "No", "Yes"])
        self.requests = 0
        self.lock = threading.Lock()
        self.posts = 0  # completion requests received, failed ones included

    def reply(self, prompt: str) -> str:
        with self._lock:
            self.requests += 1
            if "Write " in prompt and "new tasks" in prompt:
                start = _next_number(prompt)
                items = [next(self._instructions) for _ in range(4)]
                return "\n".join(f"{start + i}. {text}" for i, text in enumerate(items))
            if "Answer with exactly one word" in prompt:
                return next(self._classifications)
            if "Class label:" in prompt:
                return (
                    "Class label: Positive\nInput: The soup was lovely.\n"
                    "Class label: Negative\nInput: The soup was cold."
                )
            if "Example N" in prompt:
                return (
                    "Example 1\nInput: <noinput>\nOutput: Start with a simple plan and practice"
                    " daily.\nExample 2\nInput: a beginner\nOutput: Take it one step at a time."
                )
            return "I am not sure."


def _next_number(prompt: str) -> int:
    marker = "continuing from "
    at = prompt.rfind(marker)
    if at < 0:
        return 1
    digits = "".join(itertools.takewhile(str.isdigit, prompt[at + len(marker) :]))
    return int(digits or 1)


def _prompt_of(body: dict[str, Any]) -> str:
    if "messages" in body:
        return "\n".join(str(m.get("content", "")) for m in body["messages"])
    prompt = body.get("prompt", "")
    return prompt if isinstance(prompt, str) else "\n".join(map(str, prompt))


def make_handler(mode: str, script: Script, delay_s: float, fail_after: int):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_: Any) -> None:  # quiet: the test reads its own output
            pass

        def _send(
            self, status: int, payload: Any, raw: bytes | None = None, retry_after: str = ""
        ) -> None:
            data = raw if raw is not None else json.dumps(payload).encode()
            self.send_response(status)
            if retry_after:
                self.send_header("Retry-After", retry_after)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _flaky(self) -> bool:
            """In `flaky` mode, of every 8 completion requests: a 429 (Retry-After 0), a
            503 and a connection dropped without a reply; the instances of a task about
            honeybees always get a 500 (a request that keeps failing), with Retry-After 1
            so that its retries run out within the run, not after its end."""
            with script.lock:
                script.posts += 1
                number = script.posts
            prompt = self._prompt
            if "honeybee" in prompt and ("Class label:" in prompt or "Example N" in prompt):
                crashed = {"error": {"message": "model crashed", "type": "server_error"}}
                self._send(500, crashed, retry_after="1")
                return True
            if number % 8 == 1:
                self.send_response(429)
                self.send_header("Retry-After", "0")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return True
            if number % 8 == 3:
                self._send(503, {"error": {"message": "overloaded", "type": "server_error"}})
                return True
            if number % 8 == 5:
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return True
            return False

        def _failure(self) -> bool:
            if mode == "error500" or (mode == "ok-then-500" and script.requests >= fail_after):
                self._send(500, {"error": {"message": "internal error", "type": "server_error"}})
                return True
            if mode == "unauthorized":
                self._send(
                    401,
                    {"error": {"message": "Incorrect API key provided", "type": "invalid_key"}},
                )
                return True
            if mode == "garbage":
                self._send(200, None, raw=b"<html>not json</html>")
                return True
            return False

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            if self._failure():
                return
            self._send(200, {"object": "list", "data": [{"id": "fake", "object": "model"}]})

        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            self._prompt = _prompt_of(body)
            if self._failure() or (mode == "flaky" and self._flaky()):
                return
            if delay_s:
                time.sleep(delay_s)
            text = script.reply(_prompt_of(body))
            usage = {"prompt_tokens": 10, "completion_tokens": len(text.split())}
            usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
            common = {"id": "fake-1", "created": int(time.time()), "model": "fake", "usage": usage}
            if self.path.endswith("/chat/completions"):
                choice = {
                    "index": 0,
                    "finish_reason": "stop",
                    "message": {"role": "assistant", "content": text},
                    "logprobs": None,
                }
                self._send(200, {**common, "object": "chat.completion", "choices": [choice]})
            else:
                choice = {"index": 0, "finish_reason": "stop", "text": text, "logprobs": None}
                self._send(200, {**common, "object": "text_completion", "choices": [choice]})

    return Handler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fake_openai")
    parser.add_argument(
        "--mode",
        default="ok",
        choices=["ok", "error500", "unauthorized", "garbage", "ok-then-500", "flaky"],
    )
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--delay-s", type=float, default=0.0)
    parser.add_argument("--fail-after", type=int, default=10)
    args = parser.parse_args(argv)
    script = Script()
    server = ThreadingHTTPServer(
        ("127.0.0.1", args.port), make_handler(args.mode, script, args.delay_s, args.fail_after)
    )
    server.daemon_threads = True
    print(f"PORT {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
