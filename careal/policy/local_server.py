"""``serve: transformers``: careal starts ``transformers serve`` on 127.0.0.1 over a policy for
the ``openai`` backend, and stops it when the stage ends.

The served folder is the base model for c0 (``models/base`` for the built-in tiny model, or the
base model's folder / hub id), and for a cycle the adapter merged into the base weights,
exported once into ``.careal/served/<policy>-<adapter hash>/`` (not a DVC output: a cache that
only saves time) and reused while the adapter is unchanged. The server's log is beside it.
Needs ``pip install 'transformers[serving]'``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from careal.errors import CarealError

SERVED = Path(".careal") / "served"
SERVE_CODE = "import sys; from transformers.cli.transformers import main; sys.argv[0] = 'transformers'; sys.exit(main())"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def served_folder(base_dir, policy_dir, *, dtype: str = "auto") -> str:
    """What transformers serve loads for this policy: the base model, or the merged adapter
    (exported on first use into .careal/served/, keyed by the adapter's hash)."""
    from careal.policy.loading import _source, dir_sha256, has_adapter, load_policy, read_base

    base_dir = Path(base_dir)
    if not has_adapter(policy_dir):
        source, _ = _source(base_dir, read_base(base_dir))
        return source
    folder = SERVED / f"{Path(policy_dir).name}-{dir_sha256(policy_dir)[:16]}"
    if (folder / "config.json").exists():
        return str(folder)
    tmp = folder.with_name(f".{folder.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    loaded = load_policy(base_dir, policy_dir, device="cpu", dtype=dtype)
    loaded.model.merge_and_unload().save_pretrained(tmp)
    loaded.tokenizer.save_pretrained(tmp)
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(tmp, folder)
    return str(folder)


@contextlib.contextmanager
def transformers_serve(model: str, *, device: str = "auto", log_name: str = "serve", timeout: float = 600.0):
    """``transformers serve <model>`` on a free port of 127.0.0.1; yields its base URL
    (``http://127.0.0.1:<port>/v1``) once it answers, and kills it on exit."""
    port = free_port()
    SERVED.mkdir(parents=True, exist_ok=True)
    log = SERVED / f"{log_name}.log"
    argv = [sys.executable, "-c", SERVE_CODE, "serve", model, "--host", "127.0.0.1", "--port", str(port), "--device", "cpu" if device == "cpu" else "auto", "--log-level", "info"]
    with open(log, "ab") as handle:
        proc = subprocess.Popen(argv, stdout=handle, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                tail = log.read_text(errors="replace")[-1500:]
                raise CarealError(f"transformers serve exited with status {proc.returncode} (is transformers[serving] installed?); its log {log} ends: {tail}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2):
                    break
            except urllib.error.HTTPError:
                break  # it answers
            except OSError:
                if time.monotonic() > deadline:
                    raise CarealError(f"transformers serve not ready after {timeout:.0f} s (log: {log})") from None
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=20)
