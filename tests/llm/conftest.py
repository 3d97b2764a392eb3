"""Fixture for the LLM tests: a tiny OpenAI-compatible Chat Completions server.

The server (127.0.0.1, ephemeral port) answers ``POST /v1/chat/completions`` with canned replies
chosen from the request, records every hit, and can be told to fail the next requests with given
HTTP statuses (429, 500, ...).
"""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


def canned_reply(messages: list[dict], max_questions: int | None = None) -> str:
    """A plausible reply: a long description, a numbered question list, or a bulleted selection."""
    last = messages[-1]["content"]
    if m := re.search(r"visual features of an? (.+?) in at most (\d+) words", last):
        name = m.group(1)
        # Deliberately longer than asked, so the client-side cut is exercised.
        filler = " ".join(f"word{i}" for i in range(120))
        return f'"The {name} is a bird with red wings and a long tail. {filler}"'
    if m := re.search(r"Generate (\d+) feature-specific", last):
        n = int(m.group(1)) if max_questions is None else max_questions
        lines = ["Here are the questions:", ""]
        lines += [f"{i + 1}. Does the bird have feature number {i}?" for i in range(n)]
        return "\n".join(lines)
    if m := re.search(r"Select (\d+) of the most relevant", last):
        q = int(m.group(1))
        lines = [f"Sure! Here are {q} questions:"]
        # Ranked from the end of the generated list, in markdown bullets with bold.
        lines += [f"- **Does the bird have feature number {i}?**" for i in reversed(range(100 - q, 100))]
        return "\n".join(lines)
    if re.search(r"Rank these (\d+) questions", last):
        # The selection (the previous assistant turn) re-ordered: lowest feature number first.
        numbers = sorted(int(n) for n in re.findall(r"feature number (\d+)", messages[-2]["content"]))
        return "\n".join(f"{i + 1}. Does the bird have feature number {n}?" for i, n in enumerate(numbers))
    return "I do not know."


class FakeOpenAI:
    """Context manager running the server in a thread; ``base_url`` ends in ``/v1``."""

    def __init__(self) -> None:
        self.hits: list[dict] = []  # {"path", "authorization", "body"} per request, failures included
        self.fail_next: list[int] = []  # statuses to answer the next requests with, in order
        self.max_questions: int | None = None  # generate fewer questions than asked, when set
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep pytest output clean
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with outer._lock:
                    outer.hits.append(
                        {"path": self.path, "authorization": self.headers.get("Authorization"), "body": body}
                    )
                    status = outer.fail_next.pop(0) if outer.fail_next else 200
                if self.path != "/v1/chat/completions":
                    status = 404
                if status != 200:
                    payload = {"error": {"message": f"injected {status}", "type": "test", "code": None}}
                else:
                    payload = {
                        "id": f"chatcmpl-{len(outer.hits)}",
                        "object": "chat.completion",
                        "created": 0,
                        "model": body["model"],
                        "choices": [
                            {
                                "index": 0,
                                "message": {"role": "assistant", "content": canned_reply(body["messages"], outer.max_questions)},
                                "finish_reason": "stop",
                            }
                        ],
                        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                    }
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    def __enter__(self) -> "FakeOpenAI":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake_openai():
    with FakeOpenAI() as server:
        yield server
