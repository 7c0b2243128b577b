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

import os
import re
import threading
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass
from urllib.parse import urlsplit

from careal.errors import CarealError
from careal.metrics.scoring import LABELS, UNPARSED

DEFAULT_RUBRIC = "cares"
DEFAULT_CONCURRENCY = 4
DEFAULT_TIMEOUT = 60.0
DEFAULT_MAX_RETRIES = 5
DEFAULT_MAX_TOKENS = 16
ON_ERROR = ("fail", "unparsed")
NO_KEY = "no-key"  # what the client sends when params name no key variable
ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]{0,63}")  # and no run of 24 letters/digits (a key's shape)
# Shapes of real API keys: OpenAI/Anthropic "sk-...", hex or base64 runs, JWTs, "hf_...".
KEY_LIKE = re.compile(r"(?:\bsk-|\bhf_[A-Za-z0-9]{10}|\bBearer\s|[A-Za-z0-9+/_\-]{32,}|eyJ[A-Za-z0-9_\-]{10,}\.)")
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
    secret (api_key_env, base_url, model)."""
    def opt(name: str) -> str:
        return f"careal label: --{name.replace('_', '-')}" if where == "--" else f"params.yaml: {where}.{name}"

    for name in ("base_url", "model"):
        if not isinstance(raw.get(name), str) or not raw[name].strip():
            raise CarealError(f"{opt(name)} is required for judge kind 'openai' (a string)")
    base_url = raw["base_url"].strip()
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CarealError(f"{opt('base_url')} must be an http(s) URL such as http://127.0.0.1:8000/v1")
    if parts.username or parts.password or parts.query or parts.fragment or KEY_LIKE.search(parts.path):
        raise CarealError(f"{opt('base_url')} must not carry credentials (user:password@, a query string or a key in the path): put the key in an environment variable and name it in {where}.api_key_env")
    if KEY_LIKE.search(raw["model"]) and "/" not in raw["model"]:
        raise CarealError(f"{opt('model')} looks like an API key, not a model name; keys belong in the environment ({where}.api_key_env names the variable)")
    env = raw.get("api_key_env")
    if env is not None:
        if not isinstance(env, str) or not ENV_NAME.fullmatch(env) or re.search(r"[A-Z0-9]{24}", env):
            raise CarealError(
                f"{opt('api_key_env')} must be the NAME of the environment variable that holds the key "
                "(upper-case letters, digits and _, e.g. OPENAI_API_KEY), never the key itself; put the key in the environment"
            )
    rubric = raw.get("rubric") or DEFAULT_RUBRIC
    if not isinstance(rubric, str):
        raise CarealError(f"{opt('rubric')} must be a template name or file")

    def number(name, default, kind, low):
        value = raw.get(name)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, (int, float) if kind is float else int) or value < low:
            raise CarealError(f"{opt(name)} must be {'a number' if kind is float else 'an integer'} >= {low}, got {value!r}")
        return kind(value)

    on_error = raw.get("on_error") or "fail"
    if on_error not in ON_ERROR:
        raise CarealError(f"{opt('on_error')} must be fail or unparsed, got {on_error!r}")
    return OpenAIOptions(
        base_url=base_url.rstrip("/"),
        model=raw["model"].strip(),
        api_key_env=env,
        rubric=rubric,
        concurrency=number("concurrency", DEFAULT_CONCURRENCY, int, 1),
        timeout=number("timeout", DEFAULT_TIMEOUT, float, 0.01),
        max_retries=number("max_retries", DEFAULT_MAX_RETRIES, int, 0),
        max_tokens=number("max_tokens", DEFAULT_MAX_TOKENS, int, 1),
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


class RequestFailed(Exception):
    """A request that brought no usable reply after the client's retries."""


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
        environ = os.environ if environ is None else environ
        if options.api_key_env is not None:
            key = environ.get(options.api_key_env)
            if not key:
                raise CarealError(f"judge openai: the environment variable {options.api_key_env} (named by api_key_env) is not set or empty")
        else:
            key = None
        self._secrets = [key] if key else []
        self._key = key or NO_KEY
        self._client = None
        self._lock = threading.Lock()
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
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def client(self):
        with self._lock:
            if self._client is None:
                from openai import OpenAI

                o = self.options
                self._client = OpenAI(base_url=o.base_url, api_key=self._key, timeout=o.timeout, max_retries=o.max_retries)
            return self._client

    def ask(self, prompt: str, response: str) -> tuple[str, dict]:
        """One request: the verdict (label, evidence), or RequestFailed."""
        import openai

        o = self.options
        try:
            reply = self.client().chat.completions.create(
                model=o.model,
                messages=[{"role": "user", "content": self.template.fill(prompt, response)}],
                temperature=0,
                max_tokens=o.max_tokens,
            )
        except openai.APIStatusError as exc:
            raise RequestFailed(f"HTTP {exc.status_code}: {self.scrub(str(exc.message))[:300]}") from None
        except openai.APIError as exc:  # connection errors, timeouts, bodies that do not parse
            raise RequestFailed(f"{type(exc).__name__}: {self.scrub(str(exc))[:300]}") from None
        except ValueError as exc:  # a body that is not JSON
            raise RequestFailed(f"the server's answer is not JSON ({type(exc).__name__})") from None
        choices = getattr(reply, "choices", None)
        if not isinstance(choices, list) or not choices:
            raise RequestFailed(f"the server's answer has no choices: {self.scrub(repr(reply))[:200]}")
        choice = choices[0]
        message = getattr(choice, "message", None)
        content = getattr(message, "content", None)
        if content is not None and not isinstance(content, str):
            raise RequestFailed("the server's answer has a non-text message content")
        text = self.scrub(content or "")
        evidence = {"reply": text, "finish_reason": getattr(choice, "finish_reason", None)}
        return parse_reply(text), evidence

    def label_batch(self, pairs: list[tuple[str, str]], progress=None, save=None) -> list[tuple[str, dict]]:
        """One (label, evidence) per pair, in order, asking ``concurrency`` at a time.

        ``progress(n)``: called as answers are labelled. ``save(j, verdict)``: called at once for
        each reply that came back (``j`` its index in ``pairs``), so the caller can cache it
        before the batch ends (``judge_pairs`` does); never for a failed request. A request
        that failed for good raises JudgeRequestsFailed after the others in flight finished
        (``on_error: fail``) or is (Unparsed, {"request_failed": why}) (``on_error: unparsed``).
        """
        verdicts: list = [None] * len(pairs)
        failures: dict[int, str] = {}
        self.stats = {"requests": 0, "failed": 0}
        with ThreadPoolExecutor(max_workers=self.options.concurrency, thread_name_prefix="careal-judge") as pool:
            pending = {pool.submit(self.ask, *pair): j for j, pair in enumerate(pairs)}
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    j = pending.pop(future)
                    self.stats["requests"] += 1
                    try:
                        verdicts[j] = future.result()
                    except RequestFailed as exc:
                        failures[j] = str(exc)
                        self.stats["failed"] += 1
                        if self.options.on_error == "fail":
                            # Start nothing new; what is in flight finishes and is kept.
                            for other in [f for f in pending if f.cancel()]:
                                pending.pop(other)
                        continue
                    if save is not None:
                        save(j, verdicts[j])
                    if progress is not None:
                        progress(1)
        if failures and self.options.on_error == "fail":
            finished = sum(v is not None for v in verdicts)
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
