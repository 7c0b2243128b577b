"""What the review tests share: a small project folder holding one policy's eval answers, and
the real `careal review serve` started on 127.0.0.1 in it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
METHODS = ("direct", "indirect", "obfuscate", "role_play")
JUDGE_LABELS = ("Accept", "Caution", "Refuse", "Unparsed")
#: An answer that would run script if it reached the page as HTML: each part sets the title
#: and a window flag.
PAYLOAD = ('Sure. <script>document.title="PWNED";window.__pwned=1</script>'
           '<img src=x onerror="window.__pwned=2;document.title=\'PWNED\'"> done')


def make_project(root: Path, n: int = 24, planted: bool = False) -> Path:
    """data/prepared/eval.jsonl, data/eval/c1/answers.jsonl and judgments.jsonl under ``root``:
    ``n`` prompts over the four harm levels, one answer each, judge labels spread over the
    four labels. ``planted``: every prompt, answer and judge evidence holds PAYLOAD."""
    prompts, answers, judgments = [], [], []
    for i in range(n):
        pid = f"cares-{i:04d}"
        text = f"Question {i}: how should I handle case {i}?" + (f" {PAYLOAD}" if planted else "")
        prompts.append({"id": pid, "principle_index": i % 8, "harmful_level": i % 4, "method": METHODS[(i // 4) % 4],
                        "base_prompt": f"base question {i // 2}", "prompt": text, "generation_model": "test"})
        answers.append({"id": pid, "sample": 0, "prompt": text, "response": PAYLOAD if planted else f"Answer {i}: here is what to do."})
        judgments.append({"id": pid, "sample": 0, "label": JUDGE_LABELS[(i * 3 + i // 4) % 4], "judge": {"kind": "rules", "model": None},
                          "raw": {"rule": f"rule_{i % 3}", "cues": [PAYLOAD if planted else "a cue"]}})
    for path, rows in ((root / "data/prepared/eval.jsonl", prompts), (root / "data/eval/c1/answers.jsonl", answers),
                       (root / "data/eval/c1/judgments.jsonl", judgments)):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return root


class Server:
    """`careal review serve` in a subprocess: its URL (with the token) and its process."""

    def __init__(self, project: Path, *args: str):
        env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen([sys.executable, "-m", "careal.cli", "review", "serve", "-c", "c1", "--reviewer", "tester", *args],
                                        cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.url = ""
        deadline = time.monotonic() + 30
        lines = []
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "review: open " in line:
                self.url = line.split("review: open ", 1)[1].split()[0]
                break
        if not self.url:
            self.stop()
            raise AssertionError("careal review serve did not print its URL:\n" + "".join(lines))
        self.base = self.url.rsplit("/", 2)[0]  # http://127.0.0.1:PORT
        self.token = self.url.rstrip("/").rsplit("/", 1)[1]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process.stdout.close()
