"""A simulated OpenAI-compatible inference server with continuous batching.

It models what decides a real server's throughput, not its text quality:

* **capacity** `C`: at most `C` requests are decoded at once (vLLM's `max_num_seqs`); the
  rest wait in a FIFO queue, as in vLLM's scheduler;
* **latency from tokens**: a request takes `ttft_s + prompt_tokens * prefill_s +
  completion_tokens * decode_s` once it holds a slot (per-sequence speed independent of the
  batch, the ideal of continuous batching); tokens are counted as `ceil(chars / 4)`;
* `/v1/chat/completions` and `/v1/completions`, `usage`, and log-probabilities (chat
  `logprobs`/`top_logprobs`, completions `logprobs: k`) for the first token;
* replies well-formed for each Self-Instruct prompt kind (numbered instruction lists,
  Yes/No, input-first examples, output-first class labels), drawn from a seeded generator
  whose instructions rarely overlap, so a run of thousands of tasks finishes.

It also measures the load it saw: `GET /stats` (requests, busy slot-seconds, the window
from the first arrival to the last reply, utilization = busy / (C * window), most requests
in flight) and `GET /requests` (every request body received, for the load generator to
replay); `POST /reset` clears both.

    python -m benchmarks.sim_server --capacity 64 [--port 0] [--decode-s 0.02]

prints `PORT <n>` once it listens. HTTP/1.1 with keep-alive on plain asyncio streams, so
the server spends little of the machine's CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import sys
import time
from dataclasses import dataclass, field
from typing import Any

try:
    import orjson

    def _dumps(value: Any) -> bytes:
        return orjson.dumps(value)

    _loads = orjson.loads
except ImportError:  # pragma: no cover - orjson is there with distilabel's dependencies

    def _dumps(value: Any) -> bytes:
        return json.dumps(value).encode()

    _loads = json.loads

VERBS = [
    "Explain", "Summarize", "Describe", "Critique", "Outline", "Compare", "Rewrite",
    "Translate", "Classify", "Estimate", "Predict", "Diagnose", "Plan", "Draft", "Rank",
    "Evaluate", "Design", "Invent", "Debug", "Simplify", "Paraphrase", "Categorize",
    "Illustrate", "Argue", "Question", "Recommend", "Schedule", "Budget", "Prioritize",
    "Interpret",
]  # fmt: skip
OBJECTS = [
    "the history of", "three facts about", "a lesson plan on", "a short poem about",
    "two arguments against", "a quiz question on", "common myths about", "a tweet praising",
    "the main risks of", "a checklist for", "a beginner's guide to", "the costs of",
    "a riddle about", "the future of", "an email announcing", "a story involving",
    "the benefits of", "a recipe inspired by", "the ethics of", "a debate on",
]  # fmt: skip
ADJECTIVES = [
    "arctic", "medieval", "quantum", "volcanic", "urban", "coastal", "ancient", "digital",
    "tropical", "orbital", "rural", "nocturnal", "alpine", "industrial", "lunar", "desert",
    "maritime", "royal", "microscopic", "solar", "forest", "polar", "baroque", "nomadic",
    "robotic", "electric", "wooden", "frozen", "hidden", "floating", "silent", "giant",
    "tiny", "vintage", "modern", "crystal", "golden", "muddy", "windy", "rainy",
]  # fmt: skip
NOUNS = [
    "tern migration", "sourdough starters", "castle sieges", "dot displays", "bee swarms",
    "marathon pacing", "tomato watering", "senate debates", "bicycle chains", "cloud pricing",
    "reef bleaching", "mortgage interest", "jazz voicings", "cactus adaptations",
    "sonar systems", "origami cranes", "glacier calving", "chess endgames", "lighthouse duty",
    "train timetables", "coffee roasting", "kite design", "tax returns", "violin tuning",
    "soil erosion", "password hygiene", "wind turbines", "library catalogs", "fossil dating",
    "bridge cables", "paper recycling", "salmon runs", "opera staging", "map projections",
    "yeast genetics", "garden compost", "satellite orbits", "river deltas", "fire drills",
    "market stalls",
]  # fmt: skip
SYLLABLES = [c + v for c in "bdfgklmnprstvz" for v in "aeiou"]
WORDS = (
    "the a of to and in is it for on with as at by from this that be are was can will an"
    " each which their other some time very when much would more these two may first way"
    " been call who its now find long down day did get come made part over new sound take"
    " only little work know place year live back give most good man think say great where"
    " help through line right too mean old any same tell boy follow came want show also"
    " around form three small set put end does another well large must big even such because"
).split()


def tokens_of(text: str) -> int:
    return max(1, math.ceil(len(text) / 4))


def prompt_text(body: dict[str, Any]) -> str:
    if "messages" in body:
        return "\n".join(str(m.get("content", "")) for m in body["messages"])
    prompt = body.get("prompt", "")
    return prompt if isinstance(prompt, str) else "\n".join(map(str, prompt))


def _number_after(text: str, marker: str, default: int) -> int:
    at = text.rfind(marker)
    if at < 0:
        return default
    digits = ""
    for char in text[at + len(marker) :]:
        if not char.isdigit():
            break
        digits += char
    return int(digits) if digits else default


class Replies:
    """What the server answers, by prompt kind (seeded; one instance per server)."""

    def __init__(self, seed: int = 0) -> None:
        self.rng = random.Random(seed)

    def instruction(self) -> str:
        """A new instruction. One in four is built from the small vocabulary only (these
        collide with the pool as it grows, as a real model's do); the others name a made-up
        topic, which keeps a long run's acceptance rate from collapsing."""
        rng = self.rng
        if rng.random() < 0.25:
            topic = rng.choice(NOUNS)
        else:
            topic = f"{self.pseudo_word()} {self.pseudo_word()} {rng.choice(NOUNS).split()[-1]}"
        return f"{rng.choice(VERBS)} {rng.choice(OBJECTS)} {rng.choice(ADJECTIVES)} {topic}."

    def pseudo_word(self) -> str:
        return "".join(self.rng.choice(SYLLABLES) for _ in range(self.rng.randint(2, 3)))

    def sentence(self, words: int) -> str:
        text = " ".join(self.rng.choice(WORDS) for _ in range(words))
        return text[0].upper() + text[1:] + "."

    def reply(self, prompt: str) -> tuple[str, str]:
        """(kind, text) for a prompt."""
        rng = self.rng
        if "new tasks" in prompt or "continuing from" in prompt:
            start = _number_after(prompt, "continuing from ", 9)
            count = _number_after(prompt, "Write ", 8)
            count = max(1, min(count, 12))
            lines = [f"{start + i}. {self.instruction()}" for i in range(count)]
            return "instructions", "\n".join(lines)
        if "Answer with exactly one word" in prompt or "classification task?" in prompt:
            return "classification", "Yes" if rng.random() < 0.2 else "No"
        if "Class label:" in prompt:
            labels = rng.sample(["Positive", "Negative", "Neutral", "Mixed"], rng.randint(2, 3))
            text = "\n".join(
                f"Class label: {label}\nInput: {self.sentence(rng.randint(6, 14))}"
                for label in labels
            )
            return "instances_output_first", text
        if "Example N" in prompt or "Example 1" in prompt:
            count = _number_after(prompt, "Create up to ", 3)
            parts = []
            for index in range(1, max(1, min(count, 5)) + 1):
                given = "<noinput>" if rng.random() < 0.4 else self.sentence(rng.randint(5, 12))
                parts.append(
                    f"Example {index}\nInput: {given}\nOutput: {self.sentence(rng.randint(8, 20))}"
                )
            return "instances_input_first", "\n".join(parts)
        return "other", self.sentence(8)


@dataclass
class Stats:
    capacity: int
    requests: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)
    busy_s: float = 0.0
    first_arrival: float | None = None
    last_reply: float | None = None
    active: int = 0
    in_flight: int = 0  # holding a slot or queued
    max_in_flight: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    bodies: list[bytes] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        window = (
            (self.last_reply - self.first_arrival)
            if self.first_arrival is not None and self.last_reply is not None
            else 0.0
        )
        return {
            "capacity": self.capacity,
            "requests": self.requests,
            "by_kind": self.by_kind,
            "busy_slot_s": round(self.busy_s, 3),
            "window_s": round(window, 3),
            "requests_per_s": round(self.requests / window, 3) if window else 0.0,
            "utilization": round(self.busy_s / (self.capacity * window), 4) if window else 0.0,
            "max_in_flight": self.max_in_flight,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
        }


class SimServer:
    def __init__(
        self,
        capacity: int,
        *,
        ttft_s: float = 0.02,
        prefill_s: float = 0.00002,
        decode_s: float = 0.012,
        seed: int = 0,
        record: bool = True,
    ) -> None:
        self.capacity = capacity
        self.ttft_s, self.prefill_s, self.decode_s = ttft_s, prefill_s, decode_s
        self.replies = Replies(seed)
        self.record = record
        self.slots = asyncio.Semaphore(capacity)
        self.stats = Stats(capacity)

    def latency(self, prompt_tokens: int, completion_tokens: int) -> float:
        return self.ttft_s + prompt_tokens * self.prefill_s + completion_tokens * self.decode_s

    async def complete(self, path: str, raw: bytes) -> bytes:
        stats = self.stats
        now = time.monotonic()
        if stats.first_arrival is None:
            stats.first_arrival = now
        stats.in_flight += 1
        stats.max_in_flight = max(stats.max_in_flight, stats.in_flight)
        try:
            body = _loads(raw or b"{}")
            if self.record:
                stats.bodies.append(bytes(raw))
            prompt = prompt_text(body)
            kind, text = self.replies.reply(prompt)
            limit = body.get("max_tokens") or body.get("max_completion_tokens")
            finish = "stop"
            if isinstance(limit, int) and tokens_of(text) > limit:
                text, finish = text[: limit * 4], "length"
            prompt_tokens, completion_tokens = tokens_of(prompt), tokens_of(text)
            async with self.slots:
                stats.active += 1
                started = time.monotonic()
                try:
                    await asyncio.sleep(self.latency(prompt_tokens, completion_tokens))
                finally:
                    stats.active -= 1
                    stats.busy_s += time.monotonic() - started
            stats.requests += 1
            stats.by_kind[kind] = stats.by_kind.get(kind, 0) + 1
            stats.prompt_tokens += prompt_tokens
            stats.completion_tokens += completion_tokens
            return _dumps(self._payload(path, body, text, finish, prompt_tokens, completion_tokens))
        finally:
            stats.in_flight -= 1
            stats.last_reply = time.monotonic()

    def _payload(
        self,
        path: str,
        body: dict[str, Any],
        text: str,
        finish: str,
        prompt_tokens: int,
        completion_tokens: int,
    ) -> dict[str, Any]:
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
        common = {"id": "sim", "created": int(time.time()), "model": "sim", "usage": usage}
        first = text.split()[0] if text.split() else ""
        if path.endswith("/chat/completions"):
            logprobs = None
            if body.get("logprobs"):
                top = _top_logprobs(first, int(body.get("top_logprobs") or 1))
                logprobs = {
                    "content": [{"token": first, "logprob": top[0]["logprob"], "bytes": None,
                                 "top_logprobs": top}]
                }  # fmt: skip
            choice = {
                "index": 0,
                "finish_reason": finish,
                "message": {"role": "assistant", "content": text},
                "logprobs": logprobs,
            }
            return {**common, "object": "chat.completion", "choices": [choice]}
        logprobs = None
        if body.get("logprobs"):
            top = _top_logprobs(first, int(body["logprobs"]))
            logprobs = {
                "tokens": [first],
                "token_logprobs": [top[0]["logprob"]],
                "top_logprobs": [{entry["token"]: entry["logprob"] for entry in top}],
                "text_offset": [0],
            }
        choice = {"index": 0, "finish_reason": finish, "text": text, "logprobs": logprobs}
        return {**common, "object": "text_completion", "choices": [choice]}

    def reset(self) -> None:
        self.stats = Stats(self.capacity)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                length = 0
                for line in lines[1:]:
                    if line[:15].lower() == "content-length:":
                        length = int(line[15:].strip())
                raw = await reader.readexactly(length) if length else b""
                status, payload = 200, b""
                if method == "GET" and path.rstrip("/").endswith("/models"):
                    payload = _dumps({"object": "list", "data": [{"id": "sim", "object": "model"}]})
                elif method == "GET" and path == "/stats":
                    payload = _dumps(self.stats.as_dict())
                elif method == "GET" and path == "/requests":
                    payload = b"[" + b",".join(self.stats.bodies) + b"]"
                elif method == "POST" and path == "/reset":
                    self.reset()
                    payload = b"{}"
                elif method == "POST" and path.endswith("completions"):
                    # A client that hangs up is not served on (vLLM aborts such a request).
                    work = asyncio.ensure_future(self.complete(path, raw))
                    hangup = asyncio.ensure_future(reader.read(1))
                    await asyncio.wait({work, hangup}, return_when=asyncio.FIRST_COMPLETED)
                    if not work.done():
                        work.cancel()
                        return
                    hangup.cancel()
                    try:
                        # Clients here send nothing before the reply (no pipelining).
                        if await hangup == b"":
                            return
                    except asyncio.CancelledError:
                        pass
                    payload = work.result()
                else:
                    status, payload = 404, _dumps({"error": {"message": f"no route {path}"}})
                writer.write(
                    f"HTTP/1.1 {status} {'OK' if status == 200 else 'Not Found'}\r\n"
                    f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
                    "\r\n".encode()
                    + payload
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()


def _top_logprobs(first: str, count: int) -> list[dict[str, Any]]:
    other = "No" if first == "Yes" else "Yes"
    entries = [{"token": first, "logprob": -0.05, "bytes": None}]
    entries.append({"token": other, "logprob": -3.0, "bytes": None})
    entries += [{"token": f"t{i}", "logprob": -8.0 - i, "bytes": None} for i in range(count)]
    return entries[: max(1, count)]


async def serve(args: argparse.Namespace) -> None:
    server = SimServer(
        args.capacity,
        ttft_s=args.ttft_s,
        prefill_s=args.prefill_s,
        decode_s=args.decode_s,
        seed=args.seed,
    )
    listener = await asyncio.start_server(server.handle, "127.0.0.1", args.port, backlog=1024)
    port = listener.sockets[0].getsockname()[1]
    print(f"PORT {port}", flush=True)
    async with listener:
        await listener.serve_forever()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.sim_server")
    parser.add_argument("--capacity", type=int, default=64)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--ttft-s", type=float, default=0.02)
    parser.add_argument("--prefill-s", type=float, default=0.00002)
    parser.add_argument("--decode-s", type=float, default=0.012)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        asyncio.run(serve(args))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
