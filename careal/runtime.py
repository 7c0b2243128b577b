"""CPU numerics that do not depend on the machine (params.yaml section ``cpu``).

On the CPU, MKL (matrix products) and torch (its own vectorised kernels: softmax, norms, the
optimizer step) pick their code by the processor: MKL by instruction set and
micro-architecture, torch by the widest instruction set it finds (AVX2, AVX-512). Each variant
adds numbers in another order, so two x86 machines that differ only in their processor give
other rounding from the first training step on, and after a warm start and three cycles other
models and other figures. The thread count does the same: a sum split over more threads is
added in another order.

``pin_cpu`` fixes both before torch runs its first operation in the process:

- ``MKL_CBWR=AVX2`` and ``MKL_ENABLE_INSTRUCTIONS=AVX2``: MKL's conditional numerical
  reproducibility on its AVX2 code path, the same on every Intel CPU with AVX2 (Haswell, 2013,
  and later), whatever wider instructions it also has;
- ``ATEN_CPU_CAPABILITY=avx2``: torch's own kernels in their AVX2 versions;
- ``OMP_NUM_THREADS`` / ``MKL_NUM_THREADS`` and ``torch.set_num_threads``: a fixed thread count.

What it promises, measured (docs/architecture.md, "Determinism"): the same bytes on any Intel
x86-64 CPU with AVX2 for the same params, seed and thread count; the pinned run on an AVX-512
machine gives exactly the bytes of an AVX2-only machine (tests/test_runtime.py). ``dvc pull``
always gives the committed outputs. The pinned kernels cost no measurable time on the embedded
default.

On a processor that is not Intel's (AMD Zen), MKL asks ``mkl_serv_intel_cpu_true`` and, told
no, runs its own Zen kernels whatever ``MKL_CBWR`` says. ``use_intel_mkl_path`` answers yes: a
one-line C library (``MKL_VENDOR_SHIM``) built once with the machine's C compiler and preloaded
(``LD_PRELOAD``) into the stage process, which restarts itself with it before torch loads. With
it an AMD EPYC gave every output of the committed default byte for byte as the Intel machine
that committed it (docs/architecture.md); without a C compiler careal says so and runs on.

MKL and torch read these variables when they first run, not when they are imported: the CLI
applies them right after reading params.yaml, before any stage imports torch. A process that
has already run a torch operation cannot be pinned any more (``pin_cpu`` says so in its record).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

#: The environment that pins MKL and torch to their AVX2 code paths.
PINNED_KERNELS = {"MKL_CBWR": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"}
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")


def pin_cpu(threads: int, reproducible: bool) -> dict:
    """Set the CPU numerics for this process (params.yaml ``cpu.threads``, ``cpu.reproducible``);
    returns what was set. ``threads`` 0 leaves the thread count to torch (all cores)."""
    applied: dict = {}
    if reproducible:
        os.environ.update(PINNED_KERNELS)
        applied.update(PINNED_KERNELS)
    if threads > 0:
        for name in THREAD_VARIABLES:
            os.environ[name] = str(threads)
        applied["threads"] = threads
        if "torch" in sys.modules:
            sys.modules["torch"].set_num_threads(threads)
    applied["torch_loaded_before"] = "torch" in sys.modules
    return applied


def describe() -> dict:
    """What torch actually runs with in this process (imports torch): its kernels' instruction
    set, its thread count and MKL's reproducibility setting."""
    import torch

    return {
        "capability": torch.backends.cpu.get_cpu_capability(),
        "threads": torch.get_num_threads(),
        "mkl_cbwr": os.environ.get("MKL_CBWR"),
    }


#: MKL's vendor check, answered "Intel": MKL then keeps its AVX2 path (MKL_CBWR) on any x86 CPU.
MKL_VENDOR_SHIM = "int mkl_serv_intel_cpu_true(void) { return 1; }\n"
#: Set in the restarted process: the shim is loaded (or could not be), never restart again.
SHIM_MARKER = "CAREAL_MKL_VENDOR_SHIM"


def cpu_vendor() -> str:
    """The x86 vendor string (GenuineIntel, AuthenticAMD, ...) from /proc/cpuinfo; '' elsewhere."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if line.startswith("vendor_id"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def build_vendor_shim(cache_dir: Path | None = None) -> Path | None:
    """The shim library, compiled once into careal's cache folder (``$XDG_CACHE_HOME/careal``,
    else ~/.cache/careal) with ``cc`` or ``gcc``; None when no C compiler is found or it fails."""
    folder = Path(cache_dir or os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "careal"
    target = folder / "libcareal_mkl_vendor.so"
    if target.exists():
        return target
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        return None
    folder.mkdir(parents=True, exist_ok=True)
    source = folder / f".mkl_vendor.{os.getpid()}.c"
    partial = folder / f".libcareal_mkl_vendor.{os.getpid()}.so"
    source.write_text(MKL_VENDOR_SHIM, encoding="utf-8")
    try:
        done = subprocess.run([compiler, "-shared", "-fPIC", "-O2", "-o", str(partial), str(source)], capture_output=True, text=True)
        if done.returncode != 0:
            return None
        os.replace(partial, target)        # atomic: a parallel stage sees the whole file or none
    finally:
        source.unlink(missing_ok=True)
        partial.unlink(missing_ok=True)
    return target


def _careal_entry() -> bool:
    """Whether this process was started as a careal command (a stage script under stages/, the
    ``careal`` script or ``python -m careal.cli``), the only processes careal restarts."""
    main = getattr(sys.modules.get("__main__"), "__file__", None)
    if not main:
        return False
    path = Path(main)
    return path.parent.name == "stages" or path.name == "careal" or path.parts[-3:] == ("careal", "cli", "__main__.py")


def use_intel_mkl_path(restart=os.execve) -> str:
    """On a CPU that is not Intel's, restart this careal process with the vendor shim preloaded,
    so MKL's pinned AVX2 path is the one Intel CPUs run. Returns why nothing was done:
    ``intel`` (or not x86: nothing to do), ``loaded`` (the shim is in), ``torch loaded``,
    ``not a careal process``, ``no C compiler`` (a warning is printed). Call after pin_cpu."""
    vendor = cpu_vendor()
    if vendor in ("GenuineIntel", ""):
        return "intel"
    if os.environ.get(SHIM_MARKER):
        return "loaded" if os.environ[SHIM_MARKER] != "unavailable" else "no C compiler"
    if "torch" in sys.modules:
        return "torch loaded"
    if not _careal_entry():
        return "not a careal process"
    shim = build_vendor_shim()
    if shim is None:
        os.environ[SHIM_MARKER] = "unavailable"
        print(f"careal: warning: {vendor} CPU and no C compiler (cc, gcc): MKL runs its own kernels here, so the outputs will not be "
              "byte-identical to an Intel machine's (install gcc; docs/architecture.md, Determinism)", file=sys.stderr)
        return "no C compiler"
    env = dict(os.environ)
    env["LD_PRELOAD"] = " ".join(p for p in (str(shim), env.get("LD_PRELOAD", "")) if p)
    env[SHIM_MARKER] = str(shim)
    sys.stdout.flush()
    sys.stderr.flush()
    restart(sys.executable, [sys.executable, *sys.orig_argv[1:]], env)
    return "restarted"                     # only reached when ``restart`` returns (tests)
