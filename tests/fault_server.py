"""A misbehaving OpenAI-compatible chat server for tests (stdlib only; run as a process).

    python tests/fault_server.py PORT LOGFILE [--die-after N]

It answers POST /v1/chat/completions. What it does is chosen by a marker in the request's text
(the judged answer carries it), so that each answer meets the same fault whatever the order of
concurrent requests; "-once" faults happen on the first request with that exact text only:

- ``[ok:LABEL]``           200, the reply is LABEL
- ``[429-once:LABEL]``     429 (rate limited, Retry-After-Ms: 10), then LABEL
- ``[500-once:LABEL]``     500, then LABEL
- ``[slow-once:LABEL]``    sleeps 3 s (past the client's timeout), then LABEL
- ``[slow-always]``        always sleeps 3 s
- ``[500-always]``         always 500
- ``[empty]``              200 with an empty body
- ``[badjson]``            200 with a JSON body cut in the middle
- ``[nochoices]``          200 with valid JSON that is no chat completion
- ``[nolabel]``            200, the reply is a sentence, not a label
- ``[echo]``               200, the reply repeats the Authorization header it got
- ``[seed]``               200, the reply names the request's seed, temperature, top_p and
                           max_tokens (a generation backend's request, seen from the server)

``--die-after N``: the process exits at once (no answer) when its N-th request arrives.
Every request is logged to LOGFILE as one line: ``<marker> <status>``; the Authorization header
is never logged.
"""

from __future__ import annotations

import json
import os
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MARKER = re.compile(r"\[([a-z0-9-]+)(?::([A-Za-z]+))?\]")
SLEEP = 3.0


class State:
    lock = threading.Lock()
    seen: dict[str, int] = {}
    requests = 0
    die_after: int | None = None
    log = None


def completion(text: str) -> bytes:
    body = {
        "id": "fault-1",
        "object": "chat.completion",
        "created": 0,
        "model": "fault",
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }
    return json.dumps(body).encode()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # no default access log (it would go to stderr)
        pass

    def send(self, status: int, body: bytes, headers: dict | None = None, marker: str = "-"):
        with State.lock:
            State.log.write(f"{marker} {status}\n")
            State.log.flush()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        length = int(self.headers.get("Content-Length", 0))
        payload = json.loads(self.rfile.read(length) or b"{}")
        with State.lock:
            State.requests += 1
            if State.die_after is not None and State.requests >= State.die_after:
                State.log.write("die -\n")
                State.log.flush()
                os._exit(1)
        text = " ".join(str(m.get("content", "")) for m in payload.get("messages", []))
        match = MARKER.search(text)
        if match is None:
            return self.send(400, b'{"error": {"message": "no fault marker"}}')
        fault, label = match.group(1), match.group(2)
        with State.lock:
            count = State.seen.get(text, 0)
            State.seen[text] = count + 1
        first = count == 0
        if fault == "ok":
            return self.send(200, completion(label), marker=fault)
        if fault == "429-once":
            if first:
                return self.send(429, b'{"error": {"message": "rate limited"}}', {"Retry-After-Ms": "10"}, marker=fault)
            return self.send(200, completion(label), marker=fault)
        if fault == "500-once":
            if first:
                return self.send(500, b'{"error": {"message": "internal error"}}', marker=fault)
            return self.send(200, completion(label), marker=fault)
        if fault in ("slow-once", "slow-always"):
            if first or fault == "slow-always":
                time.sleep(SLEEP)
                with State.lock:
                    State.log.write(f"{fault} slept\n")
                    State.log.flush()
                try:
                    return self.send(200, completion("Accept"))  # too late: the client gave up
                except OSError:
                    return None
            return self.send(200, completion(label), marker=fault)
        if fault == "500-always":
            return self.send(500, b'{"error": {"message": "internal error"}}', marker=fault)
        if fault == "empty":
            return self.send(200, b"", marker=fault)
        if fault == "badjson":
            return self.send(200, b'{"id": "x", "choices": [{"message": {"content": "Acc', marker=fault)
        if fault == "nochoices":
            return self.send(200, b'{"status": "ok"}', marker=fault)
        if fault == "nolabel":
            return self.send(200, completion("I think this answer is fine, mostly."), marker=fault)
        if fault == "seed":
            fields = " ".join(f"{k}={payload.get(k)}" for k in ("seed", "temperature", "top_p", "max_tokens"))
            return self.send(200, completion(f"answer {fields}"), marker=fault)
        if fault == "echo":
            return self.send(200, completion(f"Accept {self.headers.get('Authorization', '')}"), marker=fault)
        return self.send(400, b'{"error": {"message": "unknown fault"}}', marker=fault)


def main(argv: list[str]) -> None:
    port, logfile = int(argv[0]), argv[1]
    if "--die-after" in argv:
        State.die_after = int(argv[argv.index("--die-after") + 1])
    State.log = open(logfile, "a", encoding="utf-8")
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    print(f"listening on {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main(sys.argv[1:])
