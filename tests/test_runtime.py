"""CPU numerics that do not depend on the machine (careal/runtime.py, params.yaml ``cpu``).

The proof on one machine: a small training workload (careal's tiny Llama shape, AdamW, left
padding, then greedy generation) run in fresh processes. Pinned by careal on this machine, it
gives exactly the bytes that an AVX2-only machine gives unpinned (simulated by capping MKL,
torch and oneDNN at AVX2 from outside); unpinned, this machine's own kernels give other bytes
where it has AVX-512. The thread count is fixed too. On a CPU that is not Intel's, MKL's vendor check is
answered Intel (careal.runtime.use_intel_mkl_path), and a stage script checks it is.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from careal.runtime import PINNED_KERNELS, pin_cpu

ROOT = Path(__file__).resolve().parents[1]

#: What an AVX2-only x86 machine offers, as environment caps given from outside.
AVX2_MACHINE = {"ATEN_CPU_CAPABILITY": "avx2", "MKL_ENABLE_INSTRUCTIONS": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2"}
CPU_VARIABLES = ("MKL_CBWR", "MKL_ENABLE_INSTRUCTIONS", "ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "OMP_NUM_THREADS", "MKL_NUM_THREADS")

WORKLOAD = r"""
import hashlib, json, sys
from careal.runtime import pin_cpu
if sys.argv[1] == "pin":
    pin_cpu(threads=2, reproducible=True)
import torch
from transformers import LlamaConfig, LlamaForCausalLM
if sys.argv[1] != "pin":
    torch.set_num_threads(2)
torch.manual_seed(0)
V, B, T = 512, 8, 40
config = LlamaConfig(vocab_size=V, hidden_size=128, intermediate_size=384, num_hidden_layers=2, num_attention_heads=4,
                     num_key_value_heads=4, max_position_embeddings=256, tie_word_embeddings=True, pad_token_id=0, eos_token_id=1, bos_token_id=None)
model = LlamaForCausalLM(config)
optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
g = torch.Generator().manual_seed(1)
for step in range(6):
    ids = torch.randint(2, V, (B, T), generator=g)
    lengths = torch.randint(T // 3, T + 1, (B,), generator=g)
    mask = (torch.arange(T)[None, :] >= (T - lengths)[:, None]).long()
    ids = ids * mask
    loss = model(input_ids=ids, attention_mask=mask, labels=ids.masked_fill(mask == 0, -100)).loss
    loss.backward(); optimizer.step(); optimizer.zero_grad()
digest = hashlib.sha256()
for name, tensor in sorted(model.state_dict().items()):
    digest.update(name.encode()); digest.update(tensor.detach().contiguous().numpy().tobytes())
with torch.no_grad():
    out = model.generate(input_ids=ids[:, -12:], attention_mask=mask[:, -12:], max_new_tokens=8, do_sample=False,
                         output_logits=True, return_dict_in_generate=True, pad_token_id=0)
for logits in out.logits:
    digest.update(logits.numpy().tobytes())
print(json.dumps({"sha256": digest.hexdigest(), "capability": torch.backends.cpu.get_cpu_capability(), "threads": torch.get_num_threads()}))
"""


def run_workload(mode: str, outside: dict) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in CPU_VARIABLES and k != "LD_PRELOAD"}
    env.update(outside)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    done = subprocess.run([sys.executable, "-c", WORKLOAD, mode], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_pinned_kernels_give_the_bytes_of_an_avx2_machine_whatever_the_machine_offers(tmp_path):
    from careal.runtime import build_vendor_shim, cpu_vendor

    # On a CPU that is not Intel's, an Intel machine is simulated (and careal's stages run) with
    # MKL's vendor check answered Intel (careal.runtime.use_intel_mkl_path)
    intel = {} if cpu_vendor() in ("GenuineIntel", "") else {"LD_PRELOAD": str(build_vendor_shim(tmp_path))}
    pinned = run_workload("pin", intel)
    pinned_on_avx2_machine = run_workload("pin", {**AVX2_MACHINE, **intel})
    unpinned_avx2_machine = run_workload("free", {**AVX2_MACHINE, **intel})
    unpinned_here = run_workload("free", {})
    assert pinned["capability"] == "AVX2" and pinned["threads"] == 2
    assert pinned["sha256"] == pinned_on_avx2_machine["sha256"] == unpinned_avx2_machine["sha256"]
    if intel:
        # MKL's own (Zen) kernels round differently, pinned or not: the shim is what makes the bytes equal
        assert run_workload("pin", {})["sha256"] != pinned["sha256"]
        assert unpinned_here["sha256"] != pinned["sha256"]
    elif unpinned_here["capability"] == "AVX512":
        # This machine's own kernels round differently: the pin is what makes the bytes equal.
        assert unpinned_here["sha256"] != pinned["sha256"]
    else:  # an AVX2 machine: its own kernels are the pinned ones
        assert unpinned_here["capability"] == "AVX2" and unpinned_here["sha256"] == pinned["sha256"]


def test_the_cli_pins_before_torch_loads(tmp_path):
    """Every stage command reads params.yaml through careal.cli.common.stage_params, which pins the CPU
    numerics first: torch then runs its AVX2 kernels on the fixed thread count."""
    (tmp_path / "params.yaml").write_text("cpu:\n  threads: 1\n  reproducible: true\nevaluate:\n  policies: [c0]\n", encoding="utf-8")
    code = "from careal.cli.common import stage_params; stage_params('params.yaml'); from careal.runtime import describe; import json; print(json.dumps(describe()))"
    env = {k: v for k, v in os.environ.items() if k not in CPU_VARIABLES}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen == {"capability": "AVX2", "threads": 1, "mkl_cbwr": "AVX2"}


def test_pin_cpu_sets_only_what_params_ask(monkeypatch):
    for name in CPU_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    record = pin_cpu(threads=0, reproducible=False)
    assert all(name not in os.environ for name in CPU_VARIABLES)
    assert record == {"torch_loaded_before": "torch" in sys.modules}
    torch = sys.modules.get("torch")
    before = torch.get_num_threads() if torch else None
    try:
        record = pin_cpu(threads=3, reproducible=True)
        if torch:  # already loaded in this process: the count is set on it directly
            assert torch.get_num_threads() == 3
    finally:
        if torch:
            torch.set_num_threads(before)
    assert {k: os.environ[k] for k in PINNED_KERNELS} == PINNED_KERNELS
    assert os.environ["OMP_NUM_THREADS"] == os.environ["MKL_NUM_THREADS"] == "3"
    assert record["threads"] == 3


@pytest.mark.parametrize("value, message", [(-1, "cpu.threads is -1; allowed: >= 0"), ("two", "cpu.threads must be an integer")])
def test_cpu_params_are_checked(value, message):
    from careal.errors import CarealError
    from careal.params import parse_params

    with pytest.raises(CarealError, match=message):
        parse_params({"cpu": {"threads": value}})


STAGE_SCRIPT = r"""
import ctypes, json, os
from careal.cli.common import stage_params
stage_params("params.yaml")
import torch
torch.ones(2) @ torch.ones(2)
print(json.dumps({"preload": os.environ.get("LD_PRELOAD", ""), "marker": os.environ.get("CAREAL_MKL_VENDOR_SHIM"),
                  "intel_path": ctypes.CDLL(None).mkl_serv_intel_cpu_true(), "capability": torch.backends.cpu.get_cpu_capability()}))
"""


def test_a_stage_on_any_x86_cpu_runs_mkl_on_its_intel_path(tmp_path):
    """A stage process (a script under stages/) pins the CPU and, on a CPU that is not Intel's,
    restarts once with the vendor shim preloaded: MKL's own vendor check then answers Intel, so
    MKL_CBWR=AVX2 selects the kernels Intel machines run (on this AMD EPYC: the committed
    default's every output byte for byte, docs/architecture.md)."""
    from careal.runtime import cpu_vendor

    (tmp_path / "stages").mkdir()
    (tmp_path / "stages" / "probe.py").write_text(STAGE_SCRIPT, encoding="utf-8")
    (tmp_path / "params.yaml").write_text("cpu:\n  threads: 1\n  reproducible: true\nevaluate:\n  policies: [c0]\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in CPU_VARIABLES and k not in ("LD_PRELOAD", "CAREAL_MKL_VENDOR_SHIM")}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")          # builds the shim afresh
    done = subprocess.run([sys.executable, "stages/probe.py"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["intel_path"] == 1 and seen["capability"] == "AVX2"
    if cpu_vendor() in ("GenuineIntel", ""):
        assert seen["preload"] == "" and seen["marker"] is None      # nothing to do on Intel
    else:
        shim = tmp_path / "cache" / "careal" / "libcareal_mkl_vendor.so"
        assert shim.exists() and seen["preload"].split()[0] == str(shim) and seen["marker"] == str(shim)


def test_the_shim_restart_is_guarded(monkeypatch, tmp_path, capsys):
    import careal.runtime as runtime

    calls = []
    monkeypatch.setattr(runtime, "cpu_vendor", lambda: "AuthenticAMD")
    monkeypatch.delenv(runtime.SHIM_MARKER, raising=False)
    # pytest itself already loaded torch elsewhere, or is not a careal entry: never restarted
    assert runtime.use_intel_mkl_path(restart=lambda *a: calls.append(a)) in ("torch loaded", "not a careal process") and not calls
    monkeypatch.setattr(runtime, "_careal_entry", lambda: True)
    monkeypatch.setitem(sys.modules, "torch", None)
    monkeypatch.delitem(sys.modules, "torch")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert runtime.use_intel_mkl_path(restart=lambda *a: calls.append(a)) == "restarted"
    executable, argv, env = calls[0]
    assert executable == sys.executable and env["LD_PRELOAD"].startswith(str(tmp_path / "careal" / "libcareal_mkl_vendor.so"))
    monkeypatch.setenv(runtime.SHIM_MARKER, env[runtime.SHIM_MARKER])
    assert runtime.use_intel_mkl_path(restart=lambda *a: calls.append(a)) == "loaded" and len(calls) == 1
    # no C compiler: a warning, no restart, and the stage runs on
    monkeypatch.delenv(runtime.SHIM_MARKER)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "empty"))
    monkeypatch.setattr(runtime.shutil, "which", lambda name: None)
    assert runtime.use_intel_mkl_path(restart=lambda *a: calls.append(a)) == "no C compiler" and len(calls) == 1
    assert "no C compiler" in capsys.readouterr().err
