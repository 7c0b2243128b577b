"""What every careal client of an OpenAI-compatible endpoint shares: the ``openai`` judge
(careal/judges/openai_judge.py) and the ``openai`` generation backend
(careal/policy/openai_backend.py).

- **Checked options** (``check_endpoint``, ``check_number``): ``base_url`` must be an http(s)
  URL without credentials, ``model`` must not look like a key, ``api_key_env`` must be the NAME
  of an environment variable; errors never repeat a value that may be a secret.
- **The key** (``Endpoint``): read from the variable ``api_key_env`` names when the client is
  built, given to the ``openai`` client only, scrubbed (``***``) from any text a server sends
  back. Without ``api_key_env`` a placeholder is sent (local servers ignore it), never an
  ``OPENAI_API_KEY`` that happens to be in the environment.
- **Retries**: the ``openai`` client retries 408/409/429/5xx answers, connection errors and
  timeouts with exponential backoff (0.5 s doubling, at most 8 s, or what a ``Retry-After``
  header asks) up to ``max_retries`` times; ``timeout`` bounds each attempt. ``Endpoint.call``
  turns what still fails into ``RequestFailed`` (a reason, scrubbed), never a result.
- **Bounded concurrency** (``run_pool``): ``concurrency`` requests in flight; each result is
  handed to ``save`` as it arrives (so a cache keeps it even if the run dies later); with
  ``fail_fast`` a failure starts nothing new and lets what is in flight finish.
"""

from __future__ import annotations

import os
import re
import threading
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from typing import Callable
from urllib.parse import urlsplit

from careal.errors import CarealError

NO_KEY = "no-key"  # what the client sends when params name no key variable
ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]{0,63}")  # and no run of 24 letters/digits (a key's shape)
# Shapes of real API keys: OpenAI/Anthropic "sk-...", hex or base64 runs, JWTs, "hf_...".
KEY_LIKE = re.compile(r"(?:\bsk-|\bhf_[A-Za-z0-9]{10}|\bBearer\s|[A-Za-z0-9+/_\-]{32,}|eyJ[A-Za-z0-9_\-]{10,}\.)")


def option_namer(where: str, command: str = "careal label") -> Callable[[str], str]:
    """How errors name an option: ``params.yaml: <where>.<name>``, or ``<command>: --<name>``
    when ``where`` is ``--`` (a command-line option)."""

    def opt(name: str) -> str:
        return f"{command}: --{name.replace('_', '-')}" if where == "--" else f"params.yaml: {where}.{name}"

    return opt


def check_endpoint(raw: dict, where: str, what: str, *, model_required: bool = True) -> tuple[str, str | None, str | None]:
    """``(base_url, model, api_key_env)`` of ``raw``, checked; ``what`` names the user of the
    endpoint in messages (e.g. "judge kind 'openai'"). Errors never repeat a value."""
    opt = option_namer(where)
    names = ("base_url", "model") if model_required else ("base_url",)
    for name in names:
        if not isinstance(raw.get(name), str) or not raw[name].strip():
            raise CarealError(f"{opt(name)} is required for {what} (a string)")
    base_url = raw["base_url"].strip()
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CarealError(f"{opt('base_url')} must be an http(s) URL such as http://127.0.0.1:8000/v1")
    if parts.username or parts.password or parts.query or parts.fragment or KEY_LIKE.search(parts.path):
        raise CarealError(f"{opt('base_url')} must not carry credentials (user:password@, a query string or a key in the path): put the key in an environment variable and name it in {where}.api_key_env")
    model = raw.get("model")
    if model is not None:
        if not isinstance(model, str):
            raise CarealError(f"{opt('model')} must be a text")
        model = model.strip()
        if KEY_LIKE.search(model) and "/" not in model:
            raise CarealError(f"{opt('model')} looks like an API key, not a model name; keys belong in the environment ({where}.api_key_env names the variable)")
    env = raw.get("api_key_env")
    if env is not None:
        if not isinstance(env, str) or not ENV_NAME.fullmatch(env) or re.search(r"[A-Z0-9]{24}", env):
            raise CarealError(
                f"{opt('api_key_env')} must be the NAME of the environment variable that holds the key "
                "(upper-case letters, digits and _, e.g. OPENAI_API_KEY), never the key itself; put the key in the environment"
            )
    return base_url.rstrip("/"), model, env


def check_number(raw: dict, name: str, default, kind, low, where: str):
    """``raw[name]`` as ``kind`` (int or float) at least ``low``, or ``default`` when unset."""
    value = raw.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float) if kind is float else int) or value < low:
        raise CarealError(f"{option_namer(where)(name)} must be {'a number' if kind is float else 'an integer'} >= {low}, got {value!r}")
    return kind(value)


class RequestFailed(Exception):
    """A request that brought no usable reply after the client's retries."""


class Endpoint:
    """One OpenAI-compatible endpoint: its key (from the environment), its ``openai`` client
    (built on first use, shared by the threads) and the scrubbing of server text."""

    def __init__(self, base_url: str, api_key_env: str | None, *, timeout: float, max_retries: int, who: str, environ=None):
        environ = os.environ if environ is None else environ
        if api_key_env is not None:
            key = environ.get(api_key_env)
            if not key:
                raise CarealError(f"{who}: the environment variable {api_key_env} (named by api_key_env) is not set or empty")
        else:
            key = None
        self.base_url = base_url
        self.timeout = timeout
        self.max_retries = max_retries
        self.who = who
        self._secrets = [key] if key else []
        self._key = key or NO_KEY
        self._client = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:  # never the key
        return f"Endpoint({self.base_url!r})"

    def scrub(self, text: str) -> str:
        """``text`` with the key replaced by ``***`` (servers may echo what they were sent)."""
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def client(self):
        with self._lock:
            if self._client is None:
                from openai import OpenAI

                self._client = OpenAI(base_url=self.base_url, api_key=self._key, timeout=self.timeout, max_retries=self.max_retries)
            return self._client

    def call(self, request: Callable):
        """``request(client)``, with what still fails after the retries as RequestFailed."""
        import openai

        try:
            return request(self.client())
        except openai.APIStatusError as exc:
            raise RequestFailed(f"HTTP {exc.status_code}: {self.scrub(str(exc.message))[:300]}") from None
        except openai.APIError as exc:  # connection errors, timeouts, bodies that do not parse
            raise RequestFailed(f"{type(exc).__name__}: {self.scrub(str(exc))[:300]}") from None
        except ValueError as exc:  # a body that is not JSON
            raise RequestFailed(f"the server's answer is not JSON ({type(exc).__name__})") from None

    def first_choice(self, reply, field: str = "message"):
        """``(text, finish_reason)`` of the reply's first choice (``message.content`` for a
        chat completion, ``text`` for a completion), or RequestFailed for a malformed reply."""
        choices = getattr(reply, "choices", None)
        if not isinstance(choices, list) or not choices:
            raise RequestFailed(f"the server's answer has no choices: {self.scrub(repr(reply))[:200]}")
        choice = choices[0]
        content = getattr(getattr(choice, "message", None), "content", None) if field == "message" else getattr(choice, "text", None)
        if content is not None and not isinstance(content, str):
            raise RequestFailed("the server's answer has a non-text message content")
        return self.scrub(content or ""), getattr(choice, "finish_reason", None)

    def check_reachable(self) -> list[str]:
        """The model names the server lists (GET /models), or a CarealError naming the
        endpoint when it cannot be reached, before any real request is made."""
        try:
            listed = self.call(lambda client: client.with_options(max_retries=min(self.max_retries, 2)).models.list())
        except RequestFailed as exc:
            if str(exc).startswith("HTTP "):  # it answers; some servers have no /models
                return []
            raise CarealError(f"{self.who}: cannot reach the server at {self.base_url} ({exc}); start it or fix base_url") from None
        return [getattr(m, "id", "") for m in getattr(listed, "data", []) or []]


def run_pool(items: list, ask: Callable, *, concurrency: int, fail_fast: bool, save: Callable | None = None, progress: Callable | None = None, name: str = "careal-openai") -> tuple[list, dict[int, str]]:
    """``ask(item)`` for every item, ``concurrency`` at a time: ``(results, failures)``, the
    results in item order (None where the request failed) and ``failures`` index -> reason.

    ``save(j, result)`` is called at once for each result that came back, never for a failure;
    ``progress(n)`` as items finish. With ``fail_fast``, a failure starts no new request: the
    ones in flight finish (and are saved), the rest stay None without a failure entry.
    """
    results: list = [None] * len(items)
    failures: dict[int, str] = {}
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix=name) as pool:
        pending = {pool.submit(ask, item): j for j, item in enumerate(items)}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                j = pending.pop(future)
                try:
                    results[j] = future.result()
                except RequestFailed as exc:
                    failures[j] = str(exc)
                    if fail_fast:
                        # Start nothing new; what is in flight finishes and is kept.
                        for other in [f for f in pending if f.cancel()]:
                            pending.pop(other)
                    continue
                if save is not None:
                    save(j, results[j])
                if progress is not None:
                    progress(1)
    return results, failures
