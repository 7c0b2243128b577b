"""The ``openai`` judge against real servers on 127.0.0.1: ``transformers serve`` over the tiny
model (labels, a server killed mid-run, resume from the judge cache) and a server that
misbehaves on purpose (tests/fault_server.py: timeouts, 429, 500, empty and malformed bodies,
replies that are not labels, a server that dies). Each answer is retried, resumed from the
cache or counted as Unparsed; none is dropped or labelled Accept; a planted key is found in no
output, log or cache file."""

from __future__ import annotations

import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from careal.errors import CarealError
from careal.judges import judge_pairs, make_judge
from careal.judges.cache import JudgeCache, verdict_key
from careal.judges.openai_judge import JudgeRequestsFailed, OpenAIJudge, check_options, parse_reply
from careal.params import JudgeSpec
from careal.metrics.scoring import ALL_LABELS

HERE = Path(__file__).resolve().parent
KEY_ENV = "CAREAL_TEST_JUDGE_KEY"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A server process on 127.0.0.1, its output in a log file; stopped by kill() or at exit."""

    def __init__(self, argv: list[str], log: Path, ready_url: str, timeout: float):
        self.log = log
        self.handle = open(log, "ab")
        self.proc = subprocess.Popen(argv, stdout=self.handle, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}: {log.read_text(errors='replace')[-2000:]}")
            try:
                with urllib.request.urlopen(ready_url, timeout=2):
                    break
            except urllib.error.HTTPError:
                break  # it answers
            except OSError:
                if time.monotonic() > deadline:
                    self.kill()
                    raise RuntimeError(f"server not ready after {timeout} s: {log.read_text(errors='replace')[-2000:]}") from None
                time.sleep(0.2)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)
        self.handle.close()


@pytest.fixture
def servers():
    started: list[Server] = []
    yield started
    for server in started:
        server.kill()


@pytest.fixture
def planted_key(monkeypatch):
    key = "sk-test-" + secrets.token_hex(24)
    monkeypatch.setenv(KEY_ENV, key)
    return key


def start_fault_server(servers, port: int, log: Path, die_after: int | None = None) -> Server:
    argv = [sys.executable, str(HERE / "fault_server.py"), str(port), str(log)]
    if die_after is not None:
        argv += ["--die-after", str(die_after)]
    # The fault server serves POST only: any HTTP answer to GET (501) means it is up.
    server = Server(argv, log.with_suffix(f".{len(servers)}.out"), f"http://127.0.0.1:{port}/", timeout=30)
    servers.append(server)
    return server


@pytest.fixture
def cache_file(tmp_path, monkeypatch):
    """The judge cache judge_pairs opens, in the test's folder."""
    path = tmp_path / "judge-cache.sqlite"
    monkeypatch.setenv("CAREAL_JUDGE_CACHE", str(path))
    return path


def judge_for(port: int, **options) -> OpenAIJudge:
    """The openai judge as params.yaml would ask for it (JudgeSpec, checked, make_judge)."""
    raw = {"base_url": f"http://127.0.0.1:{port}/v1", "model": "fault", "api_key_env": KEY_ENV, "timeout": 0.5, "max_retries": 2, "concurrency": 4}
    spec = JudgeSpec(kind="openai", **{**raw, **options})
    spec.check("judge.train")
    return make_judge(spec)


def cached(judge, pairs, path) -> dict:
    with JudgeCache(path) as cache:
        return cache.get_many([verdict_key(judge.identity, p, r) for p, r in pairs])


def scan_for_key(key: str, paths: list[Path], texts: list[str]) -> None:
    needle = key.encode()
    for path in paths:
        files = [p for p in path.rglob("*") if p.is_file()] if path.is_dir() else [path]
        for f in files:
            assert needle not in f.read_bytes(), f"the key leaked into {f}"
    for text in texts:
        assert key not in text


# ---------------------------------------------------------------- parsing and params


@pytest.mark.parametrize(
    "reply, label",
    [
        ("Accept", "Accept"),
        ("caution.", "Caution"),
        ("  **Refuse**\nbecause it declines", "Refuse"),
        ("Reject", "Refuse"),
        ("Label: Caution", "Caution"),
        ('"Accept"', "Accept"),
        ("\n\nRefuse!", "Refuse"),
        ("", "Unparsed"),
        (None, "Unparsed"),
        ("Accept, with caution", "Unparsed"),
        ("I would say Refuse", "Unparsed"),
        ("Acceptable", "Unparsed"),
        ("Unparsed", "Unparsed"),
        ("Sure.......", "Unparsed"),
    ],
)
def test_parse_reply_is_strict(reply, label):
    assert parse_reply(reply) == label


def test_params_refuse_keys_and_never_repeat_them(monkeypatch):
    secret = "sk-proj-" + secrets.token_hex(20)
    base = {"base_url": "http://127.0.0.1:8000/v1", "model": "m"}
    for bad in [{"api_key_env": secret}, {"api_key_env": secret.upper().replace("-", "_")}, {"api_key_env": "KEY_" + secrets.token_hex(16).upper()}, {"base_url": f"https://user:{secret}@api.example.com/v1"}, {"base_url": f"https://api.example.com/v1?key={secret}"}, {"model": secret}]:
        with pytest.raises(CarealError) as info:
            check_options({**base, **bad}, "judge.train")
        assert secret not in str(info.value) and list(bad.values())[0] not in str(info.value)
        assert "params.yaml: judge.train." in str(info.value)
    for bad, word in [({"concurrency": 0}, "concurrency"), ({"timeout": -1}, "timeout"), ({"on_error": "accept"}, "on_error"), ({"max_tokens": True}, "max_tokens"), ({"base_url": "127.0.0.1:8000"}, "base_url")]:
        with pytest.raises(CarealError, match=word):
            check_options({**base, **bad}, "judge.train")
    # The same checks through params.yaml, and options of other kinds refused.
    from careal.params import parse_params

    # refused by the generic key-shape guard of careal/params/parse.py (or the judge's own check), never echoed
    with pytest.raises(CarealError, match="judge.eval.api_key_env (must be the NAME|looks like an API key)") as info:
        parse_params({"judge": {"eval": {"kind": "openai", **base, "api_key_env": secret}}})
    assert secret not in str(info.value)
    with pytest.raises(CarealError, match="judge.train.base_url does not apply to judge kind 'rules'"):
        parse_params({"judge": {"train": {"kind": "rules", "base_url": "http://127.0.0.1:8000/v1"}}})
    with pytest.raises(CarealError, match="judge.train.base_url is required"):
        parse_params({"judge": {"train": {"kind": "openai", "model": "m"}}})
    monkeypatch.delenv("CAREAL_UNSET_KEY_VAR", raising=False)
    with pytest.raises(CarealError, match="CAREAL_UNSET_KEY_VAR.*not set"):
        OpenAIJudge(check_options({**base, "api_key_env": "CAREAL_UNSET_KEY_VAR"}))
    # Without api_key_env the client never picks up an ambient OPENAI_API_KEY.
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    judge = OpenAIJudge(check_options(base))
    assert judge.client().api_key != secret
    assert secret not in repr(judge) and secret not in repr(judge.identity)


# ---------------------------------------------------------------- the fault server

FAULTS = {
    # marker: (label when the request succeeds after retries, or None when it fails for good)
    "[ok:Caution]": "Caution",
    "[429-once:Refuse]": "Refuse",
    "[500-once:Caution]": "Caution",
    "[slow-once:Refuse]": "Refuse",
    "[slow-always]": None,
    "[500-always]": None,
    "[empty]": None,
    "[badjson]": None,
    "[nochoices]": None,
    "[nolabel]": "Unparsed",
    "[echo]": "Unparsed",
}


def test_faults_are_retried_or_unparsed_never_dropped_or_accept(tmp_path, servers, planted_key, cache_file, capfd, caplog):
    caplog.set_level(logging.DEBUG)
    port = free_port()
    log = tmp_path / "requests.log"
    start_fault_server(servers, port, log)
    pairs = [(f"question {i}", f"answer {marker}") for i, marker in enumerate(FAULTS)]
    judge = judge_for(port, on_error="unparsed")
    stats: dict = {}
    started = time.monotonic()
    verdicts = judge_pairs(judge, pairs, stats=stats)
    took = time.monotonic() - started
    assert len(verdicts) == len(pairs)
    for (_, answer), (label, evidence), expected in zip(pairs, verdicts, FAULTS.values()):
        if expected is None:  # failed for good: Unparsed with the reason, never Accept
            assert label == "Unparsed" and "request_failed" in evidence, answer
        else:
            assert label == expected, (answer, evidence)
            assert "reply" in evidence
    assert stats == {"judged": len(pairs), "cache_hits": 0}
    assert judge.stats == {"requests": len(pairs), "failed": 5}
    lines = log.read_text().split("\n")
    # 429 and 500 were answered, then retried; the slow request timed out and was retried.
    assert lines.count("429-once 429") == 1 and lines.count("429-once 200") == 1
    assert lines.count("500-once 500") == 1 and lines.count("500-once 200") == 1
    assert lines.count("500-always 500") == 3  # first try + max_retries
    assert lines.count("slow-once 200") == 1
    # The echoing server's copy of the key is scrubbed from the evidence.
    assert verdicts[list(FAULTS).index("[echo]")][1]["reply"] == "Accept Bearer ***"
    assert took < 20
    # Replies are cached, failed requests never.
    assert len(cached(judge, pairs, cache_file)) == 6

    # The rerun asks only for what failed: verdicts come from the cache, failures never.
    again = judge_pairs(judge, pairs, stats=stats)
    assert stats == {"judged": 5, "cache_hits": 6} and judge.stats["requests"] == 5
    assert [v for v, e in zip(again, FAULTS.values()) if e is not None] == [v for v, e in zip(verdicts, FAULTS.values()) if e is not None]
    out, err = capfd.readouterr()
    scan_for_key(planted_key, [tmp_path], [out, err, caplog.text, repr(verdicts)])


def test_fail_mode_stops_keeps_finished_labels_and_resumes(tmp_path, servers, planted_key, cache_file, capfd, caplog):
    caplog.set_level(logging.DEBUG)
    port = free_port()
    log = tmp_path / "requests.log"
    labels = ["Caution", "Refuse", "Accept", "Refuse", "Caution", "Accept", "Refuse", "Caution", "Accept", "Refuse"]
    pairs = [(f"question {i}", f"answer {i} [ok:{label}]") for i, label in enumerate(labels)]
    # A request that fails for good stops the batch: one clear error, finished labels kept.
    start_fault_server(servers, port, log)
    judge = judge_for(port, concurrency=1, max_retries=1)
    with pytest.raises(JudgeRequestsFailed, match=r"1 request\(s\) failed.*HTTP 500.*3 of the 4 answers asked now have labels saved in the judge cache"):
        judge_pairs(judge, pairs[:3] + [("question x", "answer [500-always]")])
    assert judge.stats == {"requests": 4, "failed": 1}
    assert len(cached(judge, pairs, cache_file)) == 3

    # The server dies at its 5th request, the judge running 2 at a time: the stage fails, every
    # label that came back is in the cache, none is invented.
    servers.pop().kill()
    start_fault_server(servers, port, log, die_after=5)
    judge = judge_for(port, concurrency=2, max_retries=1)
    stats: dict = {}
    with pytest.raises(JudgeRequestsFailed, match="APIConnectionError") as info:
        judge_pairs(judge, pairs, stats=stats)
    assert "rerun asks only for the rest" in str(info.value)
    found = cached(judge, pairs, cache_file)
    # 3 from before + the 4 answered (the 4th may be cut when the server dies at the 5th)
    saved = 3 + judge.stats["requests"] - judge.stats["failed"]
    assert 6 <= saved <= 7 and len(found) == saved
    for i, pair in enumerate(pairs):  # what the cache holds is what the server said, never a stand-in
        key = verdict_key(judge.identity, *pair)
        if key in found:
            assert found[key][0] == labels[i]

    # The server restarted on the same address: the rerun asks only for the rest.
    servers.pop().kill()
    before = log.read_text().count("\n")
    start_fault_server(servers, port, log)
    judge = judge_for(port, concurrency=2, max_retries=1)
    verdicts = judge_pairs(judge, pairs, stats=stats)
    assert [label for label, _ in verdicts] == labels
    assert stats == {"judged": len(pairs) - saved, "cache_hits": saved}
    assert judge.stats == {"requests": len(pairs) - saved, "failed": 0}
    assert log.read_text().count("\n") - before == len(pairs) - saved
    out, err = capfd.readouterr()
    scan_for_key(planted_key, [tmp_path], [out, err, caplog.text, str(info.value)])


def test_careal_label_openai_stops_with_one_line_or_counts_unparsed(tmp_path, servers, planted_key, cache_file):
    from click.testing import CliRunner

    from careal.cli import main
    from careal.jsonio import read_jsonl, write_jsonl

    port = free_port()
    start_fault_server(servers, port, tmp_path / "requests.log")
    source = tmp_path / "answers.jsonl"
    write_jsonl(source, [{"id": i, "prompt": "q", "response": f"answer {m}"} for i, m in enumerate(["[ok:Refuse]", "[500-always]", "[ok:Caution]"])])
    out = tmp_path / "labels.jsonl"
    args = ["label", "--judge", "openai", "--base-url", f"http://127.0.0.1:{port}/v1", "--model", "fault", "--api-key-env", KEY_ENV,
            "--timeout", "0.5", "--max-retries", "1", "--concurrency", "1", "--input", str(source), "--output", str(out)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2 and "HTTP 500" in result.output and "rerun asks only for the rest" in result.output
    assert not out.exists()  # no output that looks finished
    result = CliRunner().invoke(main, [*args, "--on-error", "unparsed"])
    assert result.exit_code == 0, result.output
    rows = read_jsonl(out)
    assert [r["label"] for r in rows] == ["Refuse", "Unparsed", "Caution"]
    assert "request_failed" in rows[1]["raw"] and rows[1]["judge"]["kind"] == "openai"
    scan_for_key(planted_key, [tmp_path], [result.output])


# ---------------------------------------------------------------- transformers serve


def test_transformers_serve_labels_kill_and_resume(tiny_project, tmp_path, servers, planted_key, cache_file, capfd, caplog):
    """A real OpenAI-compatible server (transformers serve) over the tiny model, killed after
    three labels: the finished labels stay in the judge cache and the restarted server is asked
    only for the rest."""
    caplog.set_level(logging.DEBUG)
    model = str(tiny_project / "models" / "base")
    port = free_port()

    def serve(log: Path) -> Server:
        argv = [sys.executable, "-c", "import sys; from transformers.cli.transformers import main; sys.argv[0] = 'transformers'; sys.exit(main())",
                "serve", model, "--host", "127.0.0.1", "--port", str(port), "--device", "cpu", "--log-level", "info"]
        server = Server(argv, log, f"http://127.0.0.1:{port}/health", timeout=240)
        servers.append(server)
        return server

    answers = ["I can't help with that.", "Please consult a doctor first.", "Take two tablets with water.", "I won't provide this.", "In general, rest helps.", "Sure, here is how.", "That is not something I can do.", "Drink fluids and see a clinician."]
    pairs = [(f"Question {i}: is this safe?", a) for i, a in enumerate(answers)]
    spec = JudgeSpec(kind="openai", base_url=f"http://127.0.0.1:{port}/v1", model=model, api_key_env=KEY_ENV, rubric="compact", max_tokens=4, timeout=30, max_retries=1, concurrency=1)

    first = serve(tmp_path / "serve1.log")
    judge = make_judge(spec)
    label_batch = judge.label_batch
    finished = []

    def kill_after_three(n):
        finished.append(n)
        if sum(finished) == 3:
            first.proc.send_signal(signal.SIGKILL)

    # judge_pairs gives its own progress bar; count the labels as they come back instead
    judge.label_batch = lambda batch, progress, save: label_batch(batch, progress=kill_after_three, save=save)
    with pytest.raises(JudgeRequestsFailed, match="APIConnectionError") as info:
        judge_pairs(judge, pairs)
    judge.label_batch = label_batch
    first.kill()
    done = judge.stats["requests"] - judge.stats["failed"]
    assert 3 <= done < len(pairs)
    # (one more when the server answered a request just before the kill but the reply was lost)
    assert done <= (tmp_path / "serve1.log").read_text().count('"POST /v1/chat/completions HTTP/1.1" 200') <= done + 1

    assert len(cached(judge, pairs, cache_file)) == done

    second = serve(tmp_path / "serve2.log")
    stats: dict = {}
    verdicts = judge_pairs(judge, pairs, stats=stats)
    assert stats == {"judged": len(pairs) - done, "cache_hits": done}
    assert judge.stats == {"requests": len(pairs) - done, "failed": 0}
    assert (tmp_path / "serve2.log").read_text().count("POST /v1/chat/completions") == len(pairs) - done
    second.kill()
    # The contract, not the quality: every answer has a label or Unparsed, with the reply kept.
    assert len(verdicts) == len(pairs)
    for label, evidence in verdicts:
        assert label in ALL_LABELS
        assert isinstance(evidence["reply"], str)
        if label == "Unparsed":
            assert parse_reply(evidence["reply"]) == "Unparsed"
    out, err = capfd.readouterr()
    scan_for_key(planted_key, [tmp_path], [out, err, caplog.text, str(info.value), repr(verdicts)])
