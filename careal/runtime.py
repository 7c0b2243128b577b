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
machine gives exactly the bytes of an AVX2-only machine (tests/test_runtime.py). MKL runs its
own kernels on AMD Zen processors whatever these settings say, so there the figures are not the
same bytes; they fall within the spread across seeds. ``dvc pull`` always gives the committed
outputs. The pinned kernels cost no measurable time on the embedded default.

MKL and torch read these variables when they first run, not when they are imported: the CLI
applies them right after reading params.yaml, before any stage imports torch. A process that
has already run a torch operation cannot be pinned any more (``pin_cpu`` says so in its record).
"""

from __future__ import annotations

import os
import sys

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
