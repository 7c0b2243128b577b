"""Loading the base model and a policy (base + optional LoRA adapter), and hashing artifacts.

``models/base/base.json`` says where the base weights are: inside ``models/base`` (the
built-in tiny model) or a Hugging Face id / local folder with a revision. ``models/cK`` is a
policy: a PEFT adapter folder with ``lineage.json``; ``models/c0`` holds only a lineage file
(the base model itself, no adapter).

Safe loading defaults (every ``from_pretrained`` here goes through ``load_kwargs``):
``trust_remote_code`` is off unless ``model.trust_remote_code: true``; model and adapter
weights load from ``.safetensors`` only (``use_safetensors=True``; a folder with only pickle
``.bin`` weights is a clear error, since unpickling can run code).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from careal.errors import CarealError
from careal.jsonio import read_json

BASE_FILE = "base.json"
LINEAGE_FILE = "lineage.json"
ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")


def file_sha256(path: str | os.PathLike) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def dir_sha256(path: str | os.PathLike) -> str:
    """Content hash of a folder: every file's relative path and bytes, in sorted order."""
    path = Path(path)
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(file.relative_to(path).as_posix().encode("utf-8") + b"\0")
        digest.update(hashlib.sha256(file.read_bytes()).digest())
    return digest.hexdigest()


def resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise CarealError("params.yaml: model.device is 'cuda' but no CUDA device is available")
    return device


def process_device(device: str) -> str:
    """``cuda`` becomes this process's own GPU (``cuda:<LOCAL_RANK>``) under a distributed
    launcher, so that N training processes do not all load onto the first GPU."""
    from careal.policy.distributed import local_rank

    index = local_rank()
    return f"cuda:{index}" if device == "cuda" and index is not None else device


def resolve_dtype(dtype: str, device: str):
    import torch

    if dtype == "auto":
        if device == "cuda" and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float32
    table = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
    if dtype not in table:
        raise CarealError(f"params.yaml: model.dtype must be auto, float32, bfloat16 or float16, got {dtype!r}")
    return table[dtype]


@dataclass
class Policy:
    """A loaded policy and what identifies it in every record it produces."""

    model: object
    tokenizer: object
    info: dict
    device: str


def read_base(base_dir: str | os.PathLike) -> dict:
    base_dir = Path(base_dir)
    spec = read_json(base_dir / BASE_FILE)
    if "model" not in spec:
        raise CarealError(f"{base_dir / BASE_FILE}: missing 'model' (rerun the bootstrap stage)")
    return spec


def load_kwargs(spec: dict) -> dict:
    """The keyword arguments of every ``from_pretrained`` careal makes: remote code only when
    the params ask for it, the pinned revision, nothing else implied."""
    kwargs = {"trust_remote_code": spec.get("trust_remote_code", False) is True}
    if spec.get("revision"):
        kwargs["revision"] = spec["revision"]
    return kwargs


def require_safetensors(folder: str | os.PathLike, what: str) -> None:
    """A local weights folder must hold ``.safetensors`` files; pickle-only weights are refused."""
    folder = Path(folder)
    if not folder.is_dir() or any(folder.glob("*.safetensors")):
        return
    pickles = sorted(p.name for p in folder.iterdir() if p.suffix in PICKLE_SUFFIXES)
    if pickles:
        raise CarealError(
            f"{folder}: {what} has only pickle weights ({', '.join(pickles[:3])}); careal loads .safetensors only "
            f"(convert them, e.g. model.save_pretrained(folder, safe_serialization=True) in a trusted session)"
        )


def _source(base_dir: Path, spec: dict) -> tuple[str, dict]:
    if spec.get("weights") == "local":
        return str(base_dir), load_kwargs({})
    if Path(spec["model"]).is_dir():
        require_safetensors(spec["model"], "the base model")
    return spec["model"], load_kwargs(spec)


def load_tokenizer(base_dir: str | os.PathLike):
    from transformers import AutoTokenizer

    base_dir = Path(base_dir)
    source, kwargs = _source(base_dir, read_base(base_dir))
    tokenizer = AutoTokenizer.from_pretrained(source, **kwargs)
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_policy(base_dir, adapter_dir=None, *, device="auto", dtype="auto", trainable=False) -> Policy:
    """Load the base model, plus the adapter in ``adapter_dir`` when it holds one.

    ``trainable`` keeps the adapter's weights trainable (continuing a cycle's adapter);
    otherwise the model is put in eval mode.
    """
    import torch
    from transformers import AutoModelForCausalLM

    base_dir = Path(base_dir)
    spec = read_base(base_dir)
    device = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, device)
    source, kwargs = _source(base_dir, spec)
    try:
        model = AutoModelForCausalLM.from_pretrained(source, dtype=torch_dtype, use_safetensors=True, **kwargs)
    except OSError as exc:
        raise CarealError(f"cannot load base model {spec['model']!r}: {exc}") from None
    tokenizer = load_tokenizer(base_dir)
    info = {"base": spec["model"], "base_revision": spec.get("revision"), "base_sha256": spec.get("sha256"), "adapter": None, "adapter_sha256": None}
    if adapter_dir is not None and (Path(adapter_dir) / ADAPTER_CONFIG).exists():
        from peft import PeftModel

        if not (Path(adapter_dir) / ADAPTER_WEIGHTS).exists():
            raise CarealError(f"{adapter_dir}: no {ADAPTER_WEIGHTS} (careal loads adapters from safetensors only; rerun the train stage)")
        model = PeftModel.from_pretrained(model, str(adapter_dir), is_trainable=trainable)
        info["adapter"] = Path(adapter_dir).as_posix()
        info["adapter_sha256"] = dir_sha256(adapter_dir)
    model.to(process_device(device))
    if not trainable:
        model.eval()
    return Policy(model=model, tokenizer=tokenizer, info=info, device=device)


def policy_info(base_dir, adapter_dir=None) -> dict:
    """What identifies a policy in its records (as ``load_policy`` gives it), without loading
    any weights: the server backends use it."""
    spec = read_base(base_dir)
    info = {"base": spec["model"], "base_revision": spec.get("revision"), "base_sha256": spec.get("sha256"), "adapter": None, "adapter_sha256": None}
    if adapter_dir is not None and has_adapter(adapter_dir):
        info["adapter"] = Path(adapter_dir).as_posix()
        info["adapter_sha256"] = dir_sha256(adapter_dir)
    return info


def has_adapter(policy_dir: str | os.PathLike) -> bool:
    return (Path(policy_dir) / ADAPTER_CONFIG).exists()
