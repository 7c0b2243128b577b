"""Generation backends and per-answer seeds (careal/policy/backends.py, sampling.py):

- hf: sampled answers are the same bytes for batch sizes 1, 7 and 64 and either batch order;
  greedy answers equal a one-prompt-at-a-time loop; a batch that runs out of memory is retried
  smaller with the same answers;
- openai: against a real `transformers serve` on 127.0.0.1 (careal starts it over the policy),
  greedy answers equal the hf backend's, and a rerun is served from the answer cache; against
  the fault server, each request carries its (seed, id, sample) seed, the answers do not depend
  on the concurrency, a failed request stops the stage (finished answers cached, no output) or
  is left out, never an empty answer; an unreachable server is one error line;
- vllm: the import guard, request building and result mapping, without vLLM or a GPU.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

from careal import pipeline
from careal.errors import CarealError
from careal.jsonio import read_jsonl
from careal.policy.generation import Decoding, generate_answers
from careal.policy.sampling import answer_seed, request_seed

from conftest import small_params
from test_judge_openai import free_port, servers, start_fault_server  # noqa: F401  (servers is a fixture)


def sha(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.fixture
def project(tiny_project, tmp_path, monkeypatch):
    """A copy of tiny_project (prepared data, tiny base, c0) as the working folder, with its own
    answer cache."""
    for part in ("data/prepared", "models/base", "models/c0"):
        shutil.copytree(tiny_project / part, tmp_path / part)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CAREAL_ANSWER_CACHE", str(tmp_path / "answers.sqlite"))
    return tmp_path


@pytest.fixture(scope="module")
def policy(tiny_project):
    from careal.policy.loading import load_policy

    return load_policy(tiny_project / "models/base", tiny_project / "models/c0", device="cpu", dtype="float32")


# ---------------------------------------------------------------- seeds


def test_the_seed_rule_is_a_stable_hash_of_seed_id_and_sample():
    assert answer_seed(0, "p-1", 0) == answer_seed(0, "p-1", 0)
    assert len({answer_seed(0, "p-1", s) for s in range(8)} | {answer_seed(1, "p-1", 0), answer_seed(0, "p-2", 0)}) == 10
    assert 0 <= answer_seed(3, 17, 2) < 2**63 and 0 <= request_seed(3, 17, 2) < 2**31
    # fixed forever: a change here changes every sampled answer careal has written
    assert answer_seed(0, "abc", 1) == int.from_bytes(hashlib.sha256(b'["careal-answer",0,"abc",1]').digest()[:8], "big") >> 1


def test_sampled_answers_are_the_same_bytes_for_batch_sizes_1_7_and_64(project):
    params = small_params()
    params.generate.prompts_per_cycle = 12
    params.generate.max_new_tokens = 12
    hashes = {}
    for batch_size in (1, 7, 64):
        params.generate.batch_size = batch_size
        pipeline.run_generate(params, "c1")
        hashes[batch_size] = sha("data/cycles/c1/generations.jsonl")
    assert len(set(hashes.values())) == 1, hashes
    records = read_jsonl("data/cycles/c1/generations.jsonl")
    assert len(records) == 12 * 4 and "seed_rule" in records[0]["decoding"] and "backend" not in records[0]["decoding"]
    # four different answers per prompt, mostly: the samples have their own seeds
    by_id = {}
    for r in records:
        by_id.setdefault(r["id"], set()).add(r["response"])
    assert sum(len(v) for v in by_id.values()) > 2 * len(by_id)


def test_sampled_answers_depend_on_the_prompt_id_not_its_position_or_batch_order(policy):
    prompts = ["Is it safe to mix ibuprofen and alcohol?", "How do I read a blood test?", "What is a normal heart rate?"]
    decoding = Decoding(do_sample=True, samples=2, temperature=1.5, max_new_tokens=10, batch_size=2, seed=5)
    first = generate_answers(policy, prompts, decoding, ids=["a", "b", "c"])
    unsorted = generate_answers(policy, prompts, decoding, ids=["a", "b", "c"], sort_by_length=False)
    reversed_ = generate_answers(policy, prompts[::-1], decoding, ids=["c", "b", "a"])
    assert first == unsorted == reversed_[::-1]
    assert generate_answers(policy, prompts, Decoding(**{**decoding.__dict__, "seed": 6}), ids=["a", "b", "c"]) != first


def test_greedy_answers_equal_a_one_prompt_at_a_time_loop(policy):
    from careal.policy.generation import render_prompt

    rows = ["What dose of paracetamol is safe?", "Tell me how to fake a prescription.", "I feel dizzy after exercise, why?", "How can I lower my cholesterol?", "Write a story where a nurse explains insulin."]
    decoding = Decoding(do_sample=False, max_new_tokens=12, batch_size=64)
    batched = generate_answers(policy, rows, decoding)
    tok, model = policy.tokenizer, policy.model
    import torch

    naive = []
    with torch.inference_mode():
        for prompt in rows:
            enc = tok(render_prompt(tok, prompt), return_tensors="pt", add_special_tokens=False)
            out = model.generate(**enc, max_new_tokens=12, do_sample=False, pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id, temperature=None, top_p=None, top_k=None)
            naive.append([tok.decode(out[0, enc["input_ids"].shape[1]:], skip_special_tokens=True).strip()])
    assert batched == naive


def test_out_of_memory_halves_the_batch_and_keeps_the_answers(policy, monkeypatch):
    import torch

    prompts = [f"Question {i}: can I take {i} tablets of aspirin?" for i in range(9)]
    decoding = Decoding(do_sample=True, samples=2, temperature=1.2, max_new_tokens=8, batch_size=8)
    expected = generate_answers(policy, prompts, decoding)
    real = policy.model.generate
    sizes = []

    def small_memory(**kwargs):
        rows = kwargs["input_ids"].shape[0]
        sizes.append(rows)
        if rows > 4:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real(**kwargs)

    monkeypatch.setattr(policy.model, "generate", small_memory)
    stats = {}
    assert generate_answers(policy, prompts, decoding, stats=stats) == expected
    assert stats["oom_backoffs"] == [4, 2] and stats["final_batch_size"] == 2
    assert sizes[:3] == [16, 8, 4]  # 8 prompts x 2 samples, then 4, then 2 prompts

    def never(**kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory")

    monkeypatch.setattr(policy.model, "generate", never)
    with pytest.raises(CarealError, match="out of memory with one prompt per batch"):
        generate_answers(policy, prompts[:1], decoding)


# ---------------------------------------------------------------- openai: transformers serve


def adapter_policy(name: str = "c1") -> None:
    """models/<name>: a LoRA adapter with random (non-zero) weights on the tiny base, and its
    lineage: a policy whose merged weights differ from the base's."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from careal.jsonio import write_json

    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained("models/base")
    model = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    model.save_pretrained(f"models/{name}")
    write_json(Path(f"models/{name}/lineage.json"), {"cycle": name, "parent": "c0"})


def test_openai_backend_greedy_answers_equal_hf_through_transformers_serve(project):
    """careal starts `transformers serve` on 127.0.0.1 over the merged policy (serve:
    transformers); its greedy answers are the hf backend's, and the rerun comes from the
    answer cache."""
    from careal.jsonio import write_jsonl

    adapter_policy("c1")
    params = small_params()
    params.cycles = {"c1": "c0"}
    params.evaluate.policies = ["c0", "c1"]
    params.evaluate.max_new_tokens = 12
    prompts = read_jsonl("data/prepared/eval.jsonl")[:12]
    write_jsonl("data/prepared/eval.jsonl", prompts)
    pipeline.run_evaluate(params, "c1")
    hf = read_jsonl("data/eval/c1/answers.jsonl")
    assert hf[0]["policy"]["adapter"] == "models/c1"
    params.evaluate.backend = "openai"
    params.evaluate.openai.serve = "transformers"
    params.evaluate.openai.concurrency = 2
    pipeline.run_evaluate(params, "c1")
    served = read_jsonl("data/eval/c1/answers.jsonl")
    assert [r["response"] for r in served] == [r["response"] for r in hf]
    assert served[0]["decoding"]["backend"] == {"kind": "openai", "base_url": "local transformers serve", "model": "c1"}
    assert served[0]["policy"] == hf[0]["policy"]
    merged = list(Path(".careal/served").glob("c1-*"))
    assert len(merged) == 1 and (merged[0] / "config.json").exists() and not (merged[0] / "adapter_config.json").exists()
    assert Path(".careal/served/evaluate-c1.log").exists()
    # the rerun takes every answer from the answer cache, without starting a server
    from careal.policy.backends import generate_with

    shutil.rmtree(".careal/served")
    decoding = Decoding(do_sample=False, max_new_tokens=12)
    _, answers, stats = generate_with(params.evaluate, "evaluate", model_params=params.model, base_dir=Path("models/base"), policy="c1", policy_dir=Path("models/c1"),
                                      ids=[p["id"] for p in prompts], prompts=[p["prompt"] for p in prompts], decoding=decoding, desc="again")
    assert stats["cache_hits"] == 12 and stats["requests"] == 0
    assert [a[0] for a in answers] == [r["response"] for r in hf]
    assert not Path(".careal/served").exists()


# ---------------------------------------------------------------- openai: the fault server


def fault_params(port: int, **options):
    params = small_params()
    params.generate.prompts_per_cycle = 6
    params.generate.samples = 3
    params.generate.backend = "openai"
    for name, value in {"base_url": f"http://127.0.0.1:{port}/v1", "model": "policy-{policy}", "timeout": 0.5, "max_retries": 1, **options}.items():
        setattr(params.generate.openai, name, value)
    return params


def test_openai_requests_carry_per_answer_seeds_whatever_the_concurrency(project, tmp_path, servers, monkeypatch):
    from careal.jsonio import write_jsonl

    rows = read_jsonl("data/prepared/train.jsonl")
    write_jsonl("data/prepared/train.jsonl", [{**r, "prompt": f"{r['prompt']} [seed]"} for r in rows])
    port = free_port()
    start_fault_server(servers, port, tmp_path / "requests.log")
    hashes = []
    for concurrency in (1, 5):
        monkeypatch.setenv("CAREAL_ANSWER_CACHE", "off")
        stats = pipeline.run_generate(fault_params(port, concurrency=concurrency), "c1")
        assert stats["requests"] == 18 and stats["cache_hits"] == 0
        hashes.append(sha("data/cycles/c1/generations.jsonl"))
    assert hashes[0] == hashes[1]
    records = read_jsonl("data/cycles/c1/generations.jsonl")
    for r in records:
        assert r["response"] == f"answer seed={request_seed(0, r['id'], r['sample'])} temperature=3.0 top_p=1.0 max_tokens=16"
    assert records[0]["decoding"]["backend"] == {"kind": "openai", "base_url": f"http://127.0.0.1:{port}/v1", "model": "policy-c0"}


def test_openai_failures_stop_the_stage_or_are_left_out_never_empty(project, tmp_path, servers):
    from click.testing import CliRunner

    from careal.jsonio import write_jsonl

    rows = read_jsonl("data/prepared/train.jsonl")
    marked = [{**r, "prompt": f"{r['prompt']} {'[500-always]' if i % 8 == 3 else '[ok:Fine]'}"} for i, r in enumerate(rows)]
    write_jsonl("data/prepared/train.jsonl", marked)
    port = free_port()
    start_fault_server(servers, port, tmp_path / "requests.log")
    params = fault_params(port, concurrency=1)
    params.generate.prompts_per_cycle = 0  # all 32 prompts, in file order: 3 answer before the first failure
    with pytest.raises(CarealError, match=r"request\(s\) failed.*HTTP 500.*saved in the answer cache, so a rerun asks only for the rest"):
        pipeline.run_generate(params, "c1")
    assert not Path("data/cycles/c1/generations.jsonl").exists()
    params.generate.openai.on_error = "skip"
    stats = pipeline.run_generate(params, "c1")
    records = read_jsonl("data/cycles/c1/generations.jsonl")
    assert stats["missing"] == 4 * 3 and stats["answers"] == len(records) == 32 * 3 - 12
    assert stats["cache_hits"] == 9  # the answers of the failed run were kept
    assert all(r["response"] == "Fine" for r in records)

    # an unreachable server: one line, exit status 2, nothing written
    closed = free_port()
    import yaml

    raw = {"data": {"builtin_base_prompts_per_cell": 2, "train_size": 32, "eval_size": 32},
           "bootstrap": {"vocab_size": 600, "hidden_size": 64, "intermediate_size": 128, "num_layers": 2, "num_heads": 2},
           "generate": {"backend": "openai", "openai": {"base_url": f"http://127.0.0.1:{closed}/v1", "model": "m", "max_retries": 0, "timeout": 1}},
           "cycles": {"c1": {"prev": "c0"}}, "evaluate": {"policies": ["c0", "c1"]}}
    Path("params.yaml").write_text(yaml.safe_dump(raw))
    os.environ["CAREAL_ANSWER_CACHE"] = "off"
    from careal.cli import main

    result = CliRunner().invoke(main, ["generate", "-c", "c2"])
    assert result.exit_code == 2 and "cycle 'c2' is not declared" in result.output
    result = CliRunner().invoke(main, ["generate", "-c", "c1"])
    assert result.exit_code == 2, result.output
    assert result.output.startswith("careal: error: generate backend openai: cannot reach the server at http://127.0.0.1:") and result.output.count("\n") == 1


def test_backend_params_are_checked_before_any_work():
    from careal.params import parse_params

    base = {"cycles": {"c1": {"prev": "c0"}}, "evaluate": {"policies": ["c0", "c1"]}}
    with pytest.raises(CarealError, match="generate.backend is 'tgi'; allowed: one of hf, openai, vllm"):
        parse_params({**base, "generate": {"backend": "tgi"}})
    with pytest.raises(CarealError, match=r"generate.openai.base_url is required for generate.backend openai"):
        parse_params({**base, "generate": {"backend": "openai"}})
    with pytest.raises(CarealError, match="evaluate.openai.model does not apply with evaluate.openai.serve: transformers"):
        parse_params({**base, "evaluate": {"policies": ["c0", "c1"], "backend": "openai", "openai": {"serve": "transformers", "model": "x"}}})
    with pytest.raises(CarealError, match="generate.openai.on_error is 'drop'; allowed: one of fail, skip"):
        parse_params({**base, "generate": {"backend": "openai", "openai": {"base_url": "http://127.0.0.1:1/v1", "model": "m", "on_error": "drop"}}})
    with pytest.raises(CarealError, match="generate.openai.api_key_env must be the NAME"):
        parse_params({**base, "generate": {"backend": "openai", "openai": {"base_url": "http://127.0.0.1:1/v1", "model": "m", "api_key_env": "not a name"}}})
    with pytest.raises(CarealError, match="generate.vllm.tensor_parallel_size is 0"):
        parse_params({**base, "generate": {"vllm": {"tensor_parallel_size": 0}}})
    # the options of the default hf backend may stay unset
    assert parse_params(base).generate.backend == "hf"


# ---------------------------------------------------------------- vllm without vllm


def test_vllm_is_import_guarded_with_the_extra_to_install(monkeypatch):
    import builtins

    from careal.policy.vllm_backend import import_vllm

    real_import = builtins.__import__

    def no_vllm(name, *args, **kwargs):
        if name == "vllm" or name.startswith("vllm."):
            raise ImportError("No module named 'vllm'", name="vllm")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_vllm)
    with pytest.raises(CarealError, match=r"generate.backend vllm needs the vllm package.*pip install -e '\.\[vllm\]'"):
        import_vllm("generate")


def test_vllm_requests_and_results_map_to_prompts_and_samples(tiny_project, tmp_path):
    import json

    from careal.policy.generation import render_prompt
    from careal.policy.loading import load_tokenizer
    from careal.policy.vllm_backend import build_requests, engine_kwargs, lora_rank, lora_request_args, map_results, sampling_kwargs, VLLMOptions

    tokenizer = load_tokenizer(tiny_project / "models/base")
    prompts, ids = ["How much water should I drink?", "Help me forge a doctor's note."], ["x-1", "x-2"]
    sampled = Decoding(do_sample=True, samples=3, temperature=0.7, top_p=0.9, max_new_tokens=20, seed=4)
    inputs, sampling, slots = build_requests(tokenizer, ids, prompts, sampled)
    assert slots == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]
    # the same tokens as the hf backend feeds the model
    assert inputs[3]["prompt_token_ids"] == tokenizer(render_prompt(tokenizer, prompts[1]), add_special_tokens=False)["input_ids"]
    assert sampling[4] == {"n": 1, "max_tokens": 20, "seed": request_seed(4, "x-2", 1), "skip_special_tokens": True, "temperature": 0.7, "top_p": 0.9, "top_k": -1}
    greedy = sampling_kwargs(Decoding(do_sample=False, max_new_tokens=8), 1)
    assert greedy["temperature"] == 0.0 and "top_p" not in greedy

    outputs = [SimpleNamespace(outputs=[SimpleNamespace(text=f" answer {i}-{s} ")]) for i, s in slots]
    assert map_results(outputs, slots, 2, 3) == [["answer 0-0", "answer 0-1", "answer 0-2"], ["answer 1-0", "answer 1-1", "answer 1-2"]]
    with pytest.raises(CarealError, match="5 outputs for 6 requests"):
        map_results(outputs[:5], slots, 2, 3)
    with pytest.raises(CarealError, match="no text for prompt 1 sample 2"):
        map_results(outputs[:5] + [SimpleNamespace(outputs=[])], slots, 2, 3)

    adapter = tmp_path / "c1"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(json.dumps({"r": 12}))
    assert lora_request_args("c0", tiny_project / "models/c0") is None
    assert lora_request_args("c1", adapter) == {"lora_name": "c1", "lora_int_id": 1, "lora_path": str(adapter.resolve())}
    assert lora_rank(adapter) == 16
    kwargs = engine_kwargs("meta-llama/Llama-3.1-8B-Instruct", VLLMOptions(tensor_parallel_size=2, max_model_len=2048), dtype="bfloat16", seed=0, revision=None, trust_remote_code=False, max_lora_rank=16)
    assert kwargs["tensor_parallel_size"] == 2 and kwargs["enable_lora"] and kwargs["max_lora_rank"] == 16 and kwargs["max_model_len"] == 2048
    assert "enable_lora" not in engine_kwargs("m", VLLMOptions(), dtype="auto", seed=0, revision=None, trust_remote_code=False, max_lora_rank=None)
