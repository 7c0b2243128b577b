"""The ``openai`` judge: any OpenAI-compatible chat endpoint (OpenAI, vLLM's ``vllm serve``,
``transformers serve``, llama.cpp's server, ...) labels each answer with the rubric template.

One chat request per answer: the filled rubric (``careal.judges.templates``, default ``cares``)
as the user message, temperature 0, ``max_tokens`` (default 16: room for the label word, and
for a short preamble that then makes the reply Unparsed rather than cut). The reply is parsed
strictly (``parse_reply``): its first non-empty line must be one label word (``Accept``,
``Caution``, ``Refuse``; ``Reject`` is Refuse), optionally after ``Label:``, in any case, with
surrounding quotes, ``**`` or a final ``.`` allowed. Anything else is Unparsed, and the raw
reply is kept as evidence.

Requests run in a thread pool of ``concurrency`` workers through the ``openai`` client, which
retries 408/409/429/5xx answers and connection errors and timeouts with exponential backoff
(0.5 s doubling, at most 8 s, or what a ``Retry-After`` header asks) up to ``max_retries``
times; ``timeout`` bounds each attempt. A well-formed reply is a verdict and goes to the judge
cache at once, one by one, so a crash or a dead server loses no finished label. A request that
still fails (retries exhausted, an unusable body, a 4xx) is never a verdict:

- ``on_error: fail`` (default): no new request starts, the ones in flight finish (and are
  cached), then the stage stops with one error line; the rerun asks only for the rest.
- ``on_error: unparsed``: the answer is counted as Unparsed (evidence ``request_failed``) and
  not cached, so a later run asks again.

The client machinery (key handling, base_url checks, retries, the thread pool, scrubbing) is
careal/policy/openai_client.py's, shared with the ``openai`` generation backend.

The key: ``api_key_env`` names an environment variable; its value is read when the judge is
built and given to the client only. It is never in params, identity, evidence, cache or error
messages (text a server sends back is scrubbed of it). A key-looking ``api_key_env`` value, or
credentials inside ``base_url``, are params errors (the message never repeats the value).
Without ``api_key_env`` the client sends a placeholder (local servers ignore it), never an
``OPENAI_API_KEY`` that happens to be in the environment.

Identity (cache key and judgment records): kind, base_url, model, rubric name and sha256,
max_tokens, temperature.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from careal.errors import CarealError
from careal.metrics.scoring import LABELS, UNPARSED
from careal.policy.openai_client import ENV_NAME, KEY_LIKE, NO_KEY, Endpoint, RequestFailed, check_endpoint, check_number, option_namer, run_pool

__all__ = ["ENV_NAME", "KEY_LIKE", "NO_KEY", "JudgeRequestsFailed", "OpenAIJudge", "OpenAIOptions", "RequestFailed", "check_options", "parse_reply"]

DEFAULT_RUBRIC = "cares"
DEFAULT_CONCURRENCY = 4
DEFAULT_TIMEOUT = 60.0
DEFAULT_MAX_RETRIES = 5
DEFAULT_MAX_TOKENS = 16
ON_ERROR = ("fail", "unparsed")
_LABEL_LINE = re.compile(r"(?:label\s*[:=-]\s*)?([A-Za-z]+)\s*[.!]?", re.IGNORECASE)
_WORDS = {label.lower(): label for label in LABELS} | {"reject": "Refuse"}


@dataclass(frozen=True)
class OpenAIOptions:
    """The ``openai`` judge's options, checked (see ``options_from_spec``)."""

    base_url: str
    model: str
    api_key_env: str | None = None
    rubric: str = DEFAULT_RUBRIC
    concurrency: int = DEFAULT_CONCURRENCY
    timeout: float = DEFAULT_TIMEOUT
    max_retries: int = DEFAULT_MAX_RETRIES
    max_tokens: int = DEFAULT_MAX_TOKENS
    on_error: str = "fail"
    cache: bool = True


def check_options(raw: dict, where: str = "judge") -> OpenAIOptions:
    """Check the options of an ``openai`` judge (``where`` names the params section in errors,
    ``--`` words them as ``careal label`` options). Errors never repeat a value that may be a
    secret (api_key_env, base_url, model); the shared checks are careal/policy/openai_client.py's."""
    opt = option_namer(where)
    base_url, model, env = check_endpoint(raw, where, "judge kind 'openai'")
    rubric = raw.get("rubric") or DEFAULT_RUBRIC
    if not isinstance(rubric, str):
        raise CarealError(f"{opt('rubric')} must be a template name or file")
    on_error = raw.get("on_error") or "fail"
    if on_error not in ON_ERROR:
        raise CarealError(f"{opt('on_error')} must be fail or unparsed, got {on_error!r}")
    return OpenAIOptions(
        base_url=base_url,
        model=model,
        api_key_env=env,
        rubric=rubric,
        concurrency=check_number(raw, "concurrency", DEFAULT_CONCURRENCY, int, 1, where),
        timeout=check_number(raw, "timeout", DEFAULT_TIMEOUT, float, 0.01, where),
        max_retries=check_number(raw, "max_retries", DEFAULT_MAX_RETRIES, int, 0, where),
        max_tokens=check_number(raw, "max_tokens", DEFAULT_MAX_TOKENS, int, 1, where),
        on_error=on_error,
        cache=bool(raw.get("cache", True)),
    )


def parse_reply(text: str | None) -> str:
    """The label in a judge's reply, or Unparsed: the first non-empty line must be one label
    word (``Reject`` is Refuse), optionally after ``Label:``, with quotes, ``*`` or a final
    ``.``/``!`` around it."""
    for line in (text or "").splitlines():
        line = line.strip().strip("*\"'`").strip()
        if not line:
            continue
        match = _LABEL_LINE.fullmatch(line)
        if match is None:
            return UNPARSED
        return _WORDS.get(match.group(1).lower(), UNPARSED)
    return UNPARSED


class JudgeRequestsFailed(CarealError):
    """Some requests failed for good; the finished verdicts are already in the judge cache."""


class OpenAIJudge:
    """The ``openai`` judge (module docstring). Run it through ``careal.judges.judge_pairs``,
    which looks verdicts up in the judge cache first and saves each new one as it arrives."""

    kind = "openai"
    cacheable = True
    reports_progress = True
    saves_each = True  # label_batch takes save=: judge_pairs caches every reply at once

    def __init__(self, options: OpenAIOptions, *, environ=None):
        from careal.judges.templates import load_template

        self.options = options
        self.template = load_template(options.rubric)
        self.endpoint = Endpoint(options.base_url, options.api_key_env, timeout=options.timeout, max_retries=options.max_retries, who="judge openai", environ=environ)
        #: counts of the last label_batch call: requests (answers asked), failed (for good)
        self.stats: dict = {}

    @property
    def identity(self) -> dict:
        o = self.options
        return {
            "kind": self.kind,
            "base_url": o.base_url,
            "model": o.model,
            "rubric": self.template.name,
            "rubric_sha256": self.template.sha256,
            "max_tokens": o.max_tokens,
            "temperature": 0,
        }

    def __repr__(self) -> str:  # never the key
        return f"OpenAIJudge(base_url={self.options.base_url!r}, model={self.options.model!r})"

    def scrub(self, text: str) -> str:
        """``text`` with the key replaced by ``***`` (servers may echo what they were sent)."""
        return self.endpoint.scrub(text)

    def client(self):
        return self.endpoint.client()

    def ask(self, prompt: str, response: str) -> tuple[str, dict]:
        """One request: the verdict (label, evidence), or RequestFailed."""
        o = self.options
        reply = self.endpoint.call(
            lambda client: client.chat.completions.create(
                model=o.model,
                messages=[{"role": "user", "content": self.template.fill(prompt, response)}],
                temperature=0,
                max_tokens=o.max_tokens,
            )
        )
        text, finish_reason = self.endpoint.first_choice(reply)
        evidence = {"reply": text, "finish_reason": finish_reason}
        return parse_reply(text), evidence

    def label_batch(self, pairs: list[tuple[str, str]], progress=None, save=None) -> list[tuple[str, dict]]:
        """One (label, evidence) per pair, in order, asking ``concurrency`` at a time.

        ``progress(n)``: called as answers are labelled. ``save(j, verdict)``: called at once for
        each reply that came back (``j`` its index in ``pairs``), so the caller can cache it
        before the batch ends (``judge_pairs`` does); never for a failed request. A request
        that failed for good raises JudgeRequestsFailed after the others in flight finished
        (``on_error: fail``) or is (Unparsed, {"request_failed": why}) (``on_error: unparsed``).
        """
        fail = self.options.on_error == "fail"
        verdicts, failures = run_pool(pairs, lambda pair: self.ask(*pair), concurrency=self.options.concurrency, fail_fast=fail, save=save, progress=progress, name="careal-judge")
        finished = sum(v is not None for v in verdicts)
        self.stats = {"requests": finished + len(failures), "failed": len(failures)}
        if failures and fail:
            raise JudgeRequestsFailed(
                f"judge openai ({self.options.model} at {self.options.base_url}): {len(failures)} request(s) failed after "
                f"{self.options.max_retries} retries (first: {failures[min(failures)]}); {finished} of the {len(pairs)} answers asked now "
                + ("have labels saved in the judge cache, so a rerun asks only for the rest" if save is not None else "have labels (no judge cache: a rerun asks again)")
                + "; or set on_error: unparsed to count failures as Unparsed"
            )
        for j, reason in failures.items():
            verdicts[j] = (UNPARSED, {"request_failed": reason})
        if progress is not None and failures:
            progress(len(failures))
        return verdicts


OPTION_NAMES = ("base_url", "model", "api_key_env", "rubric", "concurrency", "timeout", "max_retries", "max_tokens", "on_error")
"""The JudgeSpec options the openai kind takes (besides kind and cache)."""


def options_from_spec(spec, where: str = "judge") -> OpenAIOptions:
    """The checked options of a JudgeSpec with ``kind: openai``."""
    raw = {name: getattr(spec, name, None) for name in OPTION_NAMES}
    raw["cache"] = getattr(spec, "cache", True)
    return check_options(raw, where)


def make_openai_judge(spec, where: str = "judge") -> OpenAIJudge:
    """The judge a JudgeSpec with ``kind: openai`` asks for (reads the key from the environment)."""
    return OpenAIJudge(options_from_spec(spec, where))
