"""One entry point for the three generation backends (``generate.backend``, ``evaluate.backend``):

- ``hf`` (default): transformers' ``generate`` in this process (careal/policy/generation.py);
- ``openai``: any OpenAI-compatible server (careal/policy/openai_backend.py), optionally one
  that careal starts itself (``serve: transformers``, careal/policy/local_server.py);
- ``vllm``: in-process vLLM with the adapter as a LoRA request (careal/policy/vllm_backend.py).

``generate_with`` returns the policy's record (as in every generation record), the answers
(``samples`` per prompt, None for an answer a server could not give under ``on_error:
skip``) and the run's counts.
"""

from __future__ import annotations

import dataclasses

from careal.errors import CarealError

BACKENDS = ("hf", "openai", "vllm")


def check_backend(section, where: str) -> None:
    """Params checks of ``<where>.backend`` and its options (before any work)."""
    if section.backend not in BACKENDS:
        raise CarealError(f"params.yaml: {where}.backend is {section.backend!r}; allowed: one of {', '.join(BACKENDS)}")
    if section.backend == "openai":
        from careal.policy.openai_backend import check_options

        check_options(dataclasses.asdict(section.openai), where)


def vllm_options(section):
    from careal.policy.vllm_backend import VLLMOptions

    v = section.vllm
    return VLLMOptions(tensor_parallel_size=v.tensor_parallel_size, gpu_memory_utilization=v.gpu_memory_utilization, max_model_len=v.max_model_len, enforce_eager=v.enforce_eager)


def generate_with(section, where: str, *, model_params, base_dir, policy: str, policy_dir, ids: list, prompts: list[str], decoding, desc: str) -> tuple[dict, list, dict]:
    """``(policy record, answers, stats)`` of ``policy`` answering ``prompts`` with the backend
    ``section`` (the generate or evaluate params) names; ``decoding.backend`` is set to the
    backend's identity for the server backends."""
    check_backend(section, where)
    stats: dict = {"backend": section.backend}
    if section.backend == "hf":
        from careal.policy.generation import generate_answers
        from careal.policy.loading import load_policy

        loaded = load_policy(base_dir, policy_dir, device=model_params.device, dtype=model_params.dtype)
        if loaded.info["adapter"]:  # generation only reads the adapter: merged, each step runs one matmul per layer, not three
            loaded.model = loaded.model.merge_and_unload()
        answers = generate_answers(loaded, prompts, decoding, progress_desc=desc, ids=ids, stats=stats)
        return {"name": policy, **loaded.info}, answers, stats
    from careal.policy.loading import policy_info

    record = {"name": policy, **policy_info(base_dir, policy_dir)}
    if section.backend == "vllm":
        from careal.policy.vllm_backend import VLLMBackend

        backend = VLLMBackend(vllm_options(section), base_dir=base_dir, policy=policy, policy_dir=policy_dir, model_params=model_params, seed=decoding.seed, stage=where)
        decoding.backend = backend.identity
        answers = backend.generate(ids, prompts, decoding, desc)
        stats.update(backend.stats)
        return record, answers, stats
    from careal.policy.openai_backend import OpenAIBackend, check_options

    options = check_options(dataclasses.asdict(section.openai), where)
    serve = None
    if options.serve == "transformers":
        import contextlib

        from careal.policy.local_server import served_folder, transformers_serve

        @contextlib.contextmanager
        def serve():  # started only when some answer is not in the answer cache
            folder = served_folder(base_dir, policy_dir, dtype=model_params.dtype)
            with transformers_serve(folder, device=model_params.device, log_name=f"{where}-{policy}") as base_url:
                yield base_url, folder

    backend = OpenAIBackend(options, policy, record, serve=serve, stage=where)
    decoding.backend = backend.identity
    answers = backend.generate(ids, prompts, decoding, desc)
    stats.update(backend.stats)
    return record, answers, stats
