"""``careal export``: a policy as a folder that plain transformers / peft load, with its lineage.

- ``cK`` (default): the LoRA adapter (``adapter_config.json``, ``adapter_model.safetensors``),
  the base model's tokenizer, ``lineage.json`` and a model card ``README.md``. Load it with
  ``PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(<base>), OUT)``.
- ``cK --merge``: the adapter merged into the base weights (peft's ``merge_and_unload``), saved
  as a plain transformers model folder (safetensors) with the tokenizer, lineage and card:
  ``AutoModelForCausalLM.from_pretrained(OUT)`` alone.
- ``c0``: the base policy has no adapter, so either way OUT is the base model folder.
- ``selected``: models/selected, the policy the select stage chose (careal/selection.py); its
  lineage names the source (``selected_from``) and the card shows that policy's eval figures.

OUT is written into a temporary sibling folder and renamed into place when complete.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from careal.errors import CarealError
from careal.jsonio import atomic_dir, read_json, write_json
from careal.policy.loading import ADAPTER_CONFIG, LINEAGE_FILE, has_adapter, load_policy, load_tokenizer, read_base

ADAPTER_FILES = (ADAPTER_CONFIG, "adapter_model.safetensors")
HEADLINE = ("safety_score", "harmful_refusal_rate", "erroneous_refusal_rate", "discrimination", "accuracy", "f1", "n")


def _model_card(policy: str, lineage: dict, base: dict, kind: str, metrics: dict | None) -> str:
    base_id = base["model"]
    method = lineage.get("method")
    front = ["---"]
    if base.get("weights") == "hub":
        front.append(f"base_model: {base_id}")
    front += [f"library_name: {'peft' if kind == 'adapter' else 'transformers'}", "tags:", "  - careal"]
    if method:
        front.append(f"  - {method}")
    if kind == "adapter":
        front.append("  - lora")
    front.append("---")
    if kind == "adapter":
        how = (
            "A LoRA adapter. Load it on its base model:\n\n```python\nfrom peft import PeftModel\n"
            "from transformers import AutoModelForCausalLM, AutoTokenizer\n\n"
            f"base = AutoModelForCausalLM.from_pretrained(\"{base_id if base.get('weights') != 'local' else '<the base model folder>'}\")\n"
            "model = PeftModel.from_pretrained(base, \"<this folder>\")\n"
            "tokenizer = AutoTokenizer.from_pretrained(\"<this folder>\")\n```\n"
        )
        if base.get("weights") == "local":
            how += "\nThe base is careal's built-in tiny model: its folder is `models/base` of the careal project that trained this adapter.\n"
    else:
        what = "The base policy (no adapter)" if policy == "c0" else "The adapter merged into its base model's weights"
        how = (
            f"{what}, as a plain transformers model folder:\n\n```python\n"
            "from transformers import AutoModelForCausalLM, AutoTokenizer\n\n"
            "model = AutoModelForCausalLM.from_pretrained(\"<this folder>\")\n"
            "tokenizer = AutoTokenizer.from_pretrained(\"<this folder>\")\n```\n"
        )
    lines = [
        *front,
        "",
        f"# careal policy {policy}",
        "",
        f"Exported by careal from policy `{policy}` (base model `{base_id}`"
        + (f", trained with {method.upper()} from `{lineage.get('parent')}`" if method else "")
        + "). Its full record (parent, data hashes, params, seed) is in `lineage.json`.",
        "",
        how,
    ]
    if metrics:
        lines += ["## Evaluation (careal's eval split and judge)", "", "| metric | value |", "| --- | --- |"]
        lines += [f"| {k} | {metrics[k]} |" for k in HEADLINE if k in metrics]
        lines.append("")
    lines += [
        "Trained for research on safety alignment of medical chat assistants (CARES-style prompts); "
        "not for clinical use.",
        "",
    ]
    return "\n".join(lines)


def export_policy(policy: str, out, *, merge: bool = False, force: bool = False, models_dir="models", metrics_dir="metrics", device: str = "cpu", dtype: str = "auto") -> dict:
    """Write policy ``policy`` (``models/<policy>``) to ``out``; return a summary."""
    models_dir, out = Path(models_dir), Path(out)
    base_dir, policy_dir = models_dir / "base", models_dir / policy
    if not (policy_dir / LINEAGE_FILE).exists():
        raise CarealError(f"{policy_dir}: no policy {policy!r} here (run dvc repro first, or check the name)")
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not force:
        raise CarealError(f"{out}: already exists and is not empty (choose another folder, or pass --force to replace it)")
    base = read_base(base_dir)
    lineage = read_json(policy_dir / LINEAGE_FILE)
    adapter = has_adapter(policy_dir)
    kind = "merged" if adapter and merge else ("adapter" if adapter else "base")
    if lineage.get("selected_from", policy) is None:  # models/selected with nothing selected (data.validation_size 0)
        raise CarealError(f"{policy_dir}: {lineage.get('note', 'no policy was selected')}")
    # models/selected (the select stage's copy): the card shows its source policy's eval figures
    metrics_path = Path(metrics_dir) / f"{lineage.get('selected_from') or policy}.json"
    metrics = read_json(metrics_path) if metrics_path.exists() else None
    with atomic_dir(out) as tmp:
        if kind == "adapter":
            for name in ADAPTER_FILES:
                shutil.copy2(policy_dir / name, tmp / name)
            if base.get("weights") in ("hub", "folder"):
                config = json.loads((tmp / ADAPTER_CONFIG).read_text())
                config["base_model_name_or_path"] = base["model"]
                (tmp / ADAPTER_CONFIG).write_text(json.dumps(config, indent=2, sort_keys=True))
            load_tokenizer(base_dir).save_pretrained(tmp)
        else:
            loaded = load_policy(base_dir, policy_dir if adapter else None, device=device, dtype=dtype)
            model = loaded.model.merge_and_unload() if adapter else loaded.model
            model.save_pretrained(tmp)
            loaded.tokenizer.save_pretrained(tmp)
        record = {**lineage, "export": {"policy": policy, "kind": kind, "base_model": base["model"]}}
        write_json(tmp / LINEAGE_FILE, record)
        (tmp / "README.md").write_text(_model_card(policy, lineage, base, kind, metrics), encoding="utf-8")
    return {"policy": policy, "kind": kind, "out": out.as_posix(), "files": sorted(p.name for p in out.iterdir())}
