"""Presets for the paper's models: one params file each (``careal/presets/<name>.yaml``), applied
to params.yaml with ``careal preset apply <name>``, which rewrites only the keys the preset sets
and keeps every comment and every other key (ruamel.yaml's round-trip mode).

Each preset also records its model's published architecture (from the model's ``config.json``
on the hub), so that tests can build the model's skeleton without weights and check the
preset's LoRA target modules and memory budget against it.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from careal.errors import CarealError

LLAMA_LORA_LAYERS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
"""The linear layers of a Llama / Mistral decoder block (attention, then the gated MLP)."""


@dataclass(frozen=True)
class Preset:
    name: str
    model: str
    model_type: str
    """transformers' ``model_type`` of the architecture (``llama``, ``mistral``)."""
    config: dict
    """The published architecture sizes (hub ``config.json``), enough to build a skeleton."""
    parameters_billion: float
    """The published parameter count."""
    lora_layers: tuple = LLAMA_LORA_LAYERS

    @property
    def path(self) -> Path:
        return Path(str(resources.files(__name__).joinpath(f"{self.name}.yaml")))


_LLAMA_8B = {"hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8, "vocab_size": 128256, "tie_word_embeddings": False}

PRESETS = {
    p.name: p
    for p in (
        Preset("llama-3.2-3b", "meta-llama/Llama-3.2-3B-Instruct", "llama",
               {"hidden_size": 3072, "intermediate_size": 8192, "num_hidden_layers": 28, "num_attention_heads": 24, "num_key_value_heads": 8, "vocab_size": 128256, "tie_word_embeddings": True}, 3.21),
        Preset("llama-3.1-8b", "meta-llama/Llama-3.1-8B-Instruct", "llama", _LLAMA_8B, 8.03),
        Preset("meditron3-8b", "OpenMeditron/Meditron3-8B", "llama", _LLAMA_8B, 8.03),
        Preset("mistral-7b-v0.3", "mistralai/Mistral-7B-Instruct-v0.3", "mistral",
               {"hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8, "vocab_size": 32768, "tie_word_embeddings": False}, 7.25),
    )
}


def get_preset(name: str) -> Preset:
    if name not in PRESETS:
        raise CarealError(f"no preset {name!r} (presets: {', '.join(PRESETS)}; see `careal preset list`)")
    return PRESETS[name]


def _round_trip():
    from ruamel.yaml import YAML

    yaml = YAML()  # round-trip: keeps comments, key order and quoting
    yaml.preserve_quotes = True
    yaml.width = 4096
    # None stays "null" as written (ruamel's default writes nothing after the colon)
    yaml.representer.add_representer(type(None), lambda rep, _: rep.represent_scalar("tag:yaml.org,2002:null", "null"))
    return yaml


def load_preset(name: str) -> dict:
    """The preset's keys as plain data (nested sections -> values)."""
    import yaml

    return yaml.safe_load(get_preset(name).path.read_text(encoding="utf-8"))


def _merge(target, updates: dict, where: str, changed: list) -> None:
    for key, value in updates.items():
        if isinstance(value, dict):
            if key not in target or target[key] is None:
                target[key] = {}
            if not isinstance(target[key], dict):
                raise CarealError(f"params.yaml: '{where}{key}' must be a mapping to apply a preset, got {target[key]!r}")
            _merge(target[key], value, f"{where}{key}.", changed)
        else:
            if key not in target or target[key] != value:
                changed.append(f"{where}{key}")
                target[key] = value


def apply_preset(name: str, params_path="params.yaml") -> list[str]:
    """Rewrite the keys preset ``name`` sets in ``params_path`` (comments and other keys kept);
    check the result with careal.params before writing; return the keys whose value changed."""
    import io

    from careal.jsonio import atomic_path
    from careal.params import parse_params

    params_path = Path(params_path)
    if not params_path.exists():
        raise CarealError(f"{params_path}: not found (run careal from the project root, where params.yaml lives)")
    yaml = _round_trip()
    document = yaml.load(params_path.read_text(encoding="utf-8"))
    changed: list[str] = []
    # The preset is read round-trip too, so each value keeps its written form (0.00005 stays
    # 0.00005: a float dumped as 5e-05 would read back as a string in YAML 1.1).
    _merge(document, yaml.load(get_preset(name).path.read_text(encoding="utf-8")), "", changed)
    buffer = io.StringIO()
    yaml.dump(document, buffer)
    text = buffer.getvalue()
    import yaml as pyyaml

    parse_params(pyyaml.safe_load(text))  # the result must be valid params before it is written
    with atomic_path(params_path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return changed
