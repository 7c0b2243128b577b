"""``careal status``: the cycles, which stages are up to date, each policy's headline metrics.

Answers in well under a second without DVC or torch: it expands dvc.yaml's stages itself
(``foreach`` over params.yaml, ``${key}`` / ``${item...}`` substitution) and compares what
dvc.lock recorded (command, params values, md5 of deps and outs) with the working tree,
hashing files the way DVC 3 does (md5 of the bytes; a folder's md5 is the md5 of its sorted
``[{"md5", "relpath"}]`` listing plus ``.dir``). A stage whose inputs are unchanged but that
depends on a stage that will rerun is reported as ``stale`` (``dvc repro`` reruns it too).
This is a fast summary; ``dvc status`` stays the reference.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

try:  # the C loader is much faster on a big dvc.lock
    from yaml import CSafeLoader as _BaseLoader
except ImportError:  # pragma: no cover
    from yaml import SafeLoader as _BaseLoader


class _Loader(_BaseLoader):
    """YAML 1.2 floats as DVC (ruamel) reads them: dvc.lock writes 5e-05, which YAML 1.1
    (PyYAML) would read as a string, so params would never compare equal."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)

STAGE_ORDER = ("generate", "judge", "pair", "train", "evaluate")
_VAR = re.compile(r"\$\{([^}]+)\}")


def _load_yaml(path: Path):
    with open(path, encoding="utf-8") as handle:
        return yaml.load(handle, Loader=_Loader)


def _lookup(context: dict, dotted: str):
    value = context
    for part in dotted.strip().split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit():
            value = value[int(part)]
        else:
            raise KeyError(dotted)
    return value


def _substitute(value, context: dict):
    """Interpolate ${...} in strings, lists and dicts (keys too), like DVC's templating."""
    if isinstance(value, str):
        whole = _VAR.fullmatch(value)
        if whole:
            return _lookup(context, whole.group(1))
        return _VAR.sub(lambda m: str(_lookup(context, m.group(1))), value)
    if isinstance(value, list):
        return [_substitute(v, context) for v in value]
    if isinstance(value, dict):
        return {_substitute(k, context): _substitute(v, context) for k, v in value.items()}
    return value


def expand_stages(dvc_yaml: dict, params: dict) -> dict[str, dict]:
    """Stage name (``train@c1``) -> its definition with every variable resolved."""
    stages = {}
    for name, spec in (dvc_yaml.get("stages") or {}).items():
        if "foreach" in spec:
            items = _substitute(spec["foreach"], params)
            pairs = items.items() if isinstance(items, dict) else ((item, item) for item in items)
            for key, item in pairs:
                stages[f"{name}@{key}"] = _substitute(spec["do"], {**params, "key": key, "item": item})
        else:
            stages[name] = _substitute(spec, params)
    return stages


def _paths(entries) -> list[str]:
    """deps/outs/metrics entries (a path, or {path: options}) as paths."""
    out = []
    for entry in entries or []:
        out.extend(entry.keys() if isinstance(entry, dict) else [entry])
    return [str(p) for p in out]


def read_dvcignore(root: Path) -> list[tuple[str, bool]]:
    """(pattern, folders only) of .dvcignore; the simple gitignore subset careal needs
    (name globs, ``name/`` for folders, paths with a slash); negations are not supported."""
    path = root / ".dvcignore"
    if not path.exists():
        return []
    patterns = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith(("#", "!")):
            patterns.append((line.rstrip("/").lstrip("/"), line.endswith("/")))
    return patterns


class Hasher:
    """md5 of files and folders as DVC 3 records them, each path hashed once per run."""

    def __init__(self, root: Path):
        self.root = root
        self.memo: dict[str, str | None] = {}
        self.ignore = read_dvcignore(root)

    def ignored(self, rel: str, is_dir: bool) -> bool:
        from fnmatch import fnmatch

        name = rel.rsplit("/", 1)[-1]
        for pattern, dirs_only in self.ignore:
            if dirs_only and not is_dir:
                continue
            if fnmatch(rel, pattern) if "/" in pattern else fnmatch(name, pattern):
                return True
        return False

    def file_md5(self, path: Path) -> str:
        digest = hashlib.md5()
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        return digest.hexdigest()

    def __call__(self, rel: str) -> str | None:
        if rel not in self.memo:
            path = self.root / rel
            if path.is_file():
                self.memo[rel] = self.file_md5(path)
            elif path.is_dir():
                entries = []
                for folder, dirs, files in os.walk(path):
                    base = Path(folder).relative_to(self.root).as_posix()
                    dirs[:] = [d for d in dirs if d not in (".git", ".dvc") and not self.ignored(f"{base}/{d}", True)]
                    for name in files:
                        if self.ignored(f"{base}/{name}", False):
                            continue
                        full = Path(folder) / name
                        entries.append({"md5": self.file_md5(full), "relpath": full.relative_to(path).as_posix()})
                entries.sort(key=lambda e: e["relpath"])
                self.memo[rel] = hashlib.md5(json.dumps(entries, sort_keys=True).encode("utf-8")).hexdigest() + ".dir"
            else:
                self.memo[rel] = None
        return self.memo[rel]


@dataclass
class StageState:
    name: str
    state: str  # "up to date" | "changed" | "stale" | "not run"
    reasons: list[str] = field(default_factory=list)


def _params_of(spec: dict) -> list[str]:
    keys = []
    for entry in spec.get("params") or []:
        if isinstance(entry, dict):  # {params_file: [keys]}
            for keys_in_file in entry.values():
                keys.extend(keys_in_file)
        else:
            keys.append(str(entry))
    return keys


def stage_states(root: Path = Path(".")) -> list[StageState]:
    """Every stage of dvc.yaml with its state against dvc.lock, in dvc.yaml order."""
    params = _load_yaml(root / "params.yaml") or {}
    stages = expand_stages(_load_yaml(root / "dvc.yaml") or {}, params)
    lock = (_load_yaml(root / "dvc.lock") or {}).get("stages", {}) if (root / "dvc.lock").exists() else {}
    hasher = Hasher(root)
    producer = {out: name for name, spec in stages.items() for out in _paths(spec.get("outs")) + _paths(spec.get("metrics")) + _paths(spec.get("plots"))}
    states: dict[str, StageState] = {}
    for name, spec in stages.items():
        locked = lock.get(name)
        if locked is None:
            states[name] = StageState(name, "not run")
            continue
        reasons = []
        if str(locked.get("cmd")) != str(spec.get("cmd")):
            reasons.append("command changed")
        locked_deps = {d["path"]: d for d in locked.get("deps", [])}
        for dep in _paths(spec.get("deps")):
            recorded = locked_deps.get(dep)
            if recorded is None:
                reasons.append(f"new dep {dep}")
            elif hasher(dep) != recorded.get("md5"):
                reasons.append(f"dep {dep} modified" if hasher(dep) else f"dep {dep} missing")
        locked_params = (locked.get("params") or {}).get("params.yaml", {})
        for key in _params_of(spec):
            try:
                current = _lookup(params, key)
            except KeyError:
                current = None
            recorded = locked_params[key] if key in locked_params else _lookup_or_none(locked_params, key)  # dvc.lock keeps "judge.train" as one key
            if recorded != current:
                reasons.append(f"param {key} changed")
        locked_outs = {o["path"]: o for o in locked.get("outs", [])}
        for out in _paths(spec.get("outs")) + _paths(spec.get("metrics")) + _paths(spec.get("plots")):
            recorded = locked_outs.get(out)
            current = hasher(out)
            if current is None:
                reasons.append(f"out {out} missing")
            elif recorded is None or current != recorded.get("md5"):
                reasons.append(f"out {out} modified")
        states[name] = StageState(name, "changed" if reasons else "up to date", reasons)
    # Propagate: a stage reading an output of a stage that will rerun reruns too.
    changed = True
    while changed:
        changed = False
        for name, spec in stages.items():
            st = states[name]
            if st.state != "up to date":
                continue
            for dep in _paths(spec.get("deps")):
                upstream = producer.get(dep)
                if upstream and states[upstream].state != "up to date":
                    st.state, st.reasons, changed = "stale", [f"after {upstream}"], True
                    break
    return list(states.values())


def _lookup_or_none(context: dict, dotted: str):
    try:
        return _lookup(context, dotted)
    except KeyError:
        return None


MAX_DETAILS = 10
SYMBOL = {"up to date": "ok", "changed": "CHANGED", "stale": "stale", "not run": "not run"}


def format_status(root: Path = Path(".")) -> str:
    from careal.errors import CarealError
    from careal.metrics.report import COLUMNS, bars_line, format_signed, format_value, table

    for name in ("params.yaml", "dvc.yaml"):
        if not (root / name).exists():
            raise CarealError(f"{root / name}: not found (run careal status from the project root)")
    params = _load_yaml(root / "params.yaml") or {}
    cycles = params.get("cycles") or {}
    policies = (params.get("evaluate") or {}).get("policies") or []
    states = stage_states(root)
    by_name = {s.name: s for s in states}
    lines = ["cycles: " + (", ".join(f"{k} (from {v.get('prev')})" for k, v in cycles.items()) or "none") + "; evaluated: " + " ".join(map(str, policies))]
    counts: dict[str, int] = {}
    for s in states:
        counts[s.state] = counts.get(s.state, 0) + 1
    lines.append("stages: " + ", ".join(f"{counts[k]} {k}" for k in SYMBOL if k in counts) + ("" if any(s.state != "up to date" for s in states) else " (dvc repro has nothing to do)"))
    singles = [s for s in states if "@" not in s.name]
    if singles:
        lines.append(", ".join(f"{s.name} {SYMBOL[s.state]}" for s in singles))
    rows = []
    for policy in ["c0", *[k for k in cycles if k != "c0"]]:
        cells = []
        for stage in STAGE_ORDER:
            st = by_name.get(f"{stage}@{policy}")
            cells.append(SYMBOL[st.state] if st else "-")
        rows.append([policy, *cells])
    lines.append(table(["cycle", *STAGE_ORDER], rows))
    # what changed first (the causes), then what is stale because of it, then what never ran
    pending = sorted((s for s in states if s.state != "up to date"), key=lambda s: ("changed", "stale", "not run").index(s.state))
    for s in pending[:MAX_DETAILS]:
        lines.append(f"  {s.name}: {s.state}" + (f" ({'; '.join(s.reasons[:3])}{' ...' if len(s.reasons) > 3 else ''})" if s.reasons else ""))
    if len(pending) > MAX_DETAILS:
        lines.append(f"  ... and {len(pending) - MAX_DETAILS} more (dvc status lists them all)")
    metrics = {}
    for policy in policies:
        path = root / "metrics" / f"{policy}.json"
        if path.exists():
            metrics[str(policy)] = json.loads(path.read_text(encoding="utf-8"))
    if metrics:
        header = ["policy", *(title for _, title in COLUMNS)]
        body = [[name, *(format_signed(m.get(k)) if k == "discrimination" else format_value(m.get(k)) for k, _ in COLUMNS)] for name, m in metrics.items()]
        lines += ["", table(header, body), bars_line(metrics)]
    else:
        lines.append("no metrics yet (run dvc repro)")
    return "\n".join(lines)
