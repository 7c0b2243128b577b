"""The ``openai`` generation backend: the policy's answers come from any OpenAI-compatible
chat endpoint (``vllm serve``, TGI, llama.cpp's server, ``transformers serve``, ...).

One chat request per answer: the prompt as the user message, ``temperature`` (0 for greedy),
``top_p``, ``max_tokens`` and ``seed`` = ``request_seed(seed, id, sample)``
(careal/policy/sampling.py), so a server that honours per-request seeds (vLLM does) gives the
same answer to the same (seed, id, sample) whatever the concurrency or its batching.

What it shares with the ``openai`` judge (careal/policy/openai_client.py): the key from the
variable ``api_key_env`` names, never in params, records, cache or messages; ``concurrency``
requests in flight; the client's retries with backoff on 408/409/429/5xx, timeouts and
connection errors. Each finished answer goes to the answer cache at once
(careal/policy/answer_cache.py), so a killed stage reruns only the rest. A request that still
fails is never an answer:

- ``on_error: fail`` (default): no new request starts, the ones in flight finish (and are
  cached), the stage stops with one error line; the rerun asks only for the rest;
- ``on_error: skip``: the failed answers are left out of the output (no record, never an empty
  response) and counted in the stage's summary line.

Which model answers: ``model`` is the name the server serves, and ``{policy}`` in it is
replaced by the policy's name (c0, c1, ...), so one ``vllm serve`` with LoRA modules named
after the cycles serves every policy (docs/gpu.md). With ``serve: transformers`` careal itself
starts ``transformers serve`` on 127.0.0.1 over the policy (the base model for c0, the merged
adapter otherwise, exported once into ``.careal/served/``) and stops it when the stage ends.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from careal.errors import CarealError
from careal.policy.openai_client import Endpoint, RequestFailed, check_endpoint, check_number, option_namer, run_pool

ON_ERROR = ("fail", "skip")
SERVE = ("none", "transformers")
POLICY_PLACEHOLDER = "{policy}"


@dataclass(frozen=True)
class OpenAIBackendOptions:
    """The ``openai`` backend's options, checked (``check_options``)."""

    base_url: str | None
    model: str | None
    api_key_env: str | None = None
    serve: str = "none"
    concurrency: int = 8
    timeout: float = 600.0
    max_retries: int = 5
    on_error: str = "fail"
    cache: bool = True

    def served_model(self, policy: str) -> str:
        return (self.model or "").replace(POLICY_PLACEHOLDER, policy)


def check_options(raw: dict, where: str) -> OpenAIBackendOptions:
    """The checked options of ``<where>.openai`` (``where`` is ``generate`` or ``evaluate``);
    errors never repeat a value that may be a secret."""
    section = f"{where}.openai"
    opt = option_namer(section)
    serve = raw.get("serve") or "none"
    if serve not in SERVE:
        raise CarealError(f"{opt('serve')} must be one of {', '.join(SERVE)}, got {serve!r}")
    if serve == "none":
        base_url, model, env = check_endpoint(raw, section, f"{where}.backend openai (or set {section}.serve: transformers)")
    else:
        for name in ("base_url", "api_key_env"):
            if raw.get(name) is not None:
                raise CarealError(f"{opt(name)} does not apply with {section}.serve: transformers (careal starts the server on 127.0.0.1 itself)")
        base_url, model, env = None, raw.get("model"), None
        if model is not None:
            raise CarealError(f"{opt('model')} does not apply with {section}.serve: transformers (the served model is the policy's folder)")
    on_error = raw.get("on_error") or "fail"
    if on_error not in ON_ERROR:
        raise CarealError(f"{opt('on_error')} must be fail or skip, got {on_error!r}")
    return OpenAIBackendOptions(
        base_url=base_url, model=model, api_key_env=env, serve=serve,
        concurrency=check_number(raw, "concurrency", 8, int, 1, section),
        timeout=check_number(raw, "timeout", 600.0, float, 0.01, section),
        max_retries=check_number(raw, "max_retries", 5, int, 0, section),
        on_error=on_error, cache=bool(raw.get("cache", True)),
    )


class AnswerRequestsFailed(CarealError):
    """Some answers could not be had; the finished ones are in the answer cache."""


def chat_request(prompt: str, decoding, seed: int) -> dict:
    """The chat-completion parameters of one answer (besides the model)."""
    request = {"messages": [{"role": "user", "content": prompt}], "max_tokens": decoding.max_new_tokens, "seed": seed}
    if decoding.do_sample:
        request.update(temperature=decoding.temperature, top_p=decoding.top_p)
    else:
        request.update(temperature=0.0)
    return request


class OpenAIBackend:
    """Answers of one policy from one endpoint (module doc)."""

    kind = "openai"

    def __init__(self, options: OpenAIBackendOptions, policy: str, policy_record: dict, *, base_url: str | None = None, model: str | None = None, serve=None, environ=None, stage: str = "generate"):
        """``serve`` (with ``serve: transformers``): a function returning a context manager
        that starts the server and yields ``(base_url, model)``; it is called only when some
        answer is not in the answer cache."""
        self.options = options
        self.policy = policy
        self.policy_record = policy_record
        self.base_url = base_url or options.base_url
        self.model = model or options.served_model(policy)
        self.stage = stage
        self.serve = serve
        self.environ = environ
        self.endpoint = self._endpoint() if self.base_url else None
        self.stats: dict = {}

    def _endpoint(self) -> Endpoint:
        o = self.options
        return Endpoint(self.base_url, o.api_key_env, timeout=o.timeout, max_retries=o.max_retries, who=f"{self.stage} backend openai", environ=self.environ)

    @property
    def identity(self) -> dict:
        """What goes into each record's ``decoding.backend``."""
        return {"kind": self.kind, "base_url": self.base_url if self.options.serve == "none" else "local transformers serve", "model": self.model if self.options.serve == "none" else self.policy}

    def __repr__(self) -> str:  # never the key
        return f"OpenAIBackend(base_url={self.base_url!r}, model={self.model!r})"

    def _cache_identity(self) -> dict:
        record = {k: self.policy_record.get(k) for k in ("name", "base", "base_revision", "base_sha256", "adapter_sha256")}
        return {**self.identity, "policy": record}

    def ask(self, request: dict) -> dict:
        reply = self.endpoint.call(lambda client: client.chat.completions.create(model=self.model, **request))
        text, finish_reason = self.endpoint.first_choice(reply)
        return {"text": text.strip(), "finish_reason": finish_reason}

    def generate(self, ids: list, prompts: list[str], decoding, desc: str) -> list[list[str | None]]:
        """``decoding.samples`` answers per prompt, in order; None where a request failed
        (``on_error: skip``; with ``fail`` it raises AnswerRequestsFailed)."""
        from tqdm.auto import tqdm

        from careal.policy.answer_cache import answer_key, open_cache
        from careal.policy.sampling import request_seed

        k = decoding.samples
        slots = [(i, s) for i in range(len(prompts)) for s in range(k)]
        requests = [chat_request(prompts[i], decoding, request_seed(decoding.seed, ids[i], s)) for i, s in slots]
        identity = self._cache_identity()
        keys = [answer_key(identity, {**r, "id": ids[i], "sample": s}) for r, (i, s) in zip(requests, slots)]
        cache = open_cache(self.options.cache)
        results: list = [None] * len(slots)
        try:
            found = cache.get_many(keys) if cache is not None else {}
            for j, key in enumerate(keys):
                results[j] = found.get(key)
            todo = [j for j, r in enumerate(results) if r is None]
            fail = self.options.on_error == "fail"
            save = (lambda n, answer: cache.put(keys[todo[n]], answer)) if cache is not None else None
            got, failures = [], {}
            if todo:
                with (self.serve() if self.serve is not None else contextlib.nullcontext((self.base_url, self.model))) as (base_url, model):
                    if self.endpoint is None or base_url != self.base_url:
                        self.base_url, self.model = base_url, model
                        self.endpoint = self._endpoint()
                    self.endpoint.check_reachable()
                    with tqdm(total=len(todo), desc=desc, unit="answer") as bar:
                        got, failures = run_pool([requests[j] for j in todo], self.ask, concurrency=self.options.concurrency, fail_fast=fail, save=save, progress=bar.update, name="careal-generate")
        finally:
            if cache is not None:
                cache.close()
        for n, j in enumerate(todo):
            results[j] = got[n]
        self.stats = {"requests": len(todo), "cache_hits": len(slots) - len(todo), "failed": len(failures)}
        if failures and fail:
            finished = sum(r is not None for r in got)
            raise AnswerRequestsFailed(
                f"{self.stage} backend openai ({self.model} at {self.base_url}): {len(failures)} request(s) failed after {self.options.max_retries} retries "
                f"(first: {failures[min(failures)]}); {finished} of the {len(todo)} answers asked now "
                + ("are saved in the answer cache, so a rerun asks only for the rest" if cache is not None else "came back (no answer cache: a rerun asks again)")
                + "; or set on_error: skip to leave failed answers out"
            )
        answers: list[list[str | None]] = [[None] * k for _ in prompts]
        for (i, s), result in zip(slots, results):
            answers[i][s] = None if result is None else result["text"]
        return answers


__all__ = ["AnswerRequestsFailed", "OpenAIBackend", "OpenAIBackendOptions", "RequestFailed", "chat_request", "check_options"]
