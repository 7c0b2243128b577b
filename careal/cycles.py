"""``careal cycles add`` / ``careal cycles set N``: edit params.yaml's ``cycles`` and
``evaluate.policies`` together, keeping its comments and layout (ruamel.yaml round trip).

Cycles are named c1, c2, ...; each starts from the previous one (c1 from c0, the base policy).
A new cycle cK + 1 reuses every existing stage: ``dvc repro`` then runs only its five stages.
"""

from __future__ import annotations

import re
from pathlib import Path

from careal.errors import CarealError

_NAME = re.compile(r"c([1-9][0-9]*)$")


def _yaml(sequence_indent: int = 2):
    from ruamel.yaml import YAML

    y = YAML()
    if sequence_indent == 4:  # dvc.yaml's style: "deps:" then "  - path"
        y.indent(mapping=2, sequence=4, offset=2)  # round-trip: comments, key order and flow style survive
    y.preserve_quotes = True
    y.width = 4096
    y.representer.add_representer(type(None), lambda rep, _: rep.represent_scalar("tag:yaml.org,2002:null", "null"))
    return y


def _numbered(cycles, path) -> list[int]:
    numbers = []
    for name in cycles:
        match = _NAME.match(str(name))
        if not match:
            raise CarealError(f"{path}: cycles: {name!r} is not named cN; edit params.yaml by hand for named branches")
        numbers.append(int(match.group(1)))
    return sorted(numbers)


def _flow_map(prev: str):
    from ruamel.yaml.comments import CommentedMap

    entry = CommentedMap(prev=prev)
    entry.fa.set_flow_style()
    return entry


def _load(path: Path):
    if not path.exists():
        raise CarealError(f"{path}: file not found")
    doc = _yaml().load(path.read_text(encoding="utf-8"))
    for key in ("cycles", "evaluate"):
        if not isinstance(doc.get(key), dict):
            raise CarealError(f"{path}: no {key}: section")
    if "policies" not in doc["evaluate"]:
        raise CarealError(f"{path}: evaluate: no policies key")
    return doc


def _write(path: Path, doc, sequence_indent: int = 2) -> None:
    import io

    from careal.jsonio import atomic_path

    buffer = io.StringIO()
    _yaml(sequence_indent).dump(doc, buffer)
    with atomic_path(path) as tmp:
        tmp.write_text(buffer.getvalue(), encoding="utf-8")


def set_cycles(path: str | Path, count: int) -> list[str]:
    """Make the cycles exactly c1..c<count> (each from the one before) and evaluate c0..c<count>.
    Existing entries keep their own line and comment. Returns the cycle names."""
    path = Path(path)
    if count < 0:
        raise CarealError(f"cycles: N must be 0 or more, got {count}")
    doc = _load(path)
    cycles, policies = doc["cycles"], doc["evaluate"]["policies"]
    _numbered(cycles, path)
    wanted = [f"c{k}" for k in range(1, count + 1)]
    for name in list(cycles):
        if name not in wanted:
            del cycles[name]
    for k, name in enumerate(wanted, start=1):
        prev = f"c{k - 1}"
        if name not in cycles:
            cycles[name] = _flow_map(prev)
        elif cycles[name].get("prev") != prev:
            cycles[name]["prev"] = prev
    # ruamel writes an empty block mapping as an invalid "{}" line under its comment: go flow.
    if wanted:
        cycles.fa.set_block_style()
    else:
        cycles.fa.set_flow_style()
    # evaluate.policies: c0 and every cycle, in order; other entries (e.g. an external policy) stay.
    keep = [p for p in policies if not (p == "c0" or _NAME.match(str(p)))]
    wanted_policies = ["c0", *wanted, *keep]
    del policies[:]
    policies.extend(wanted_policies)
    _write(path, doc)
    dvc_yaml = path.parent / "dvc.yaml"
    if dvc_yaml.exists():
        sync_artifacts(dvc_yaml, {name: f"c{k - 1}" for k, name in enumerate(wanted, start=1)})
    return wanted


def sync_artifacts(dvc_yaml: Path, cycles: dict[str, str]) -> None:
    """Keep dvc.yaml's ``artifacts:`` (policy-cK, type model) in step with the cycles; entries
    not named policy-c<N> are left alone. No artifacts section: nothing to do."""
    from ruamel.yaml.comments import CommentedMap

    doc = _yaml(4).load(dvc_yaml.read_text(encoding="utf-8"))
    artifacts = doc.get("artifacts") if doc else None
    if not isinstance(artifacts, dict):
        return
    for name in list(artifacts):
        match = re.match(r"policy-(c[1-9][0-9]*)$", str(name))
        if match and match.group(1) not in cycles:
            del artifacts[name]
    _sync_curve_plots(doc.get("plots"), cycles)
    for cycle, parent in cycles.items():
        if f"policy-{cycle}" not in artifacts:
            meta = CommentedMap(cycle=cycle, parent=parent, metrics=f"metrics/{cycle}.json")
            meta.fa.set_flow_style()
            artifacts[f"policy-{cycle}"] = CommentedMap(path=f"models/{cycle}", type="model", desc=f"LoRA adapter of cycle {cycle} (on models/base)", meta=meta)
    _write(dvc_yaml, doc, sequence_indent=4)


CURVES = "metrics/train/{}/plots/metrics"


def _sync_curve_plots(plots, cycles: dict[str, str]) -> None:
    """One top-level plot per cycle's training curves (dvclive's folder of .tsv files, contract 3),
    in step with the cycles; only when dvc.yaml already lists some (the lead may drop them)."""
    from ruamel.yaml.comments import CommentedMap

    if not isinstance(plots, list):
        return
    pattern = re.compile(r"metrics/train/(c[1-9][0-9]*)/plots/metrics$")
    present = [i for i, entry in enumerate(plots) if isinstance(entry, dict) and any(pattern.match(str(k)) for k in entry)]
    if not present:
        return
    template = plots[present[0]][next(iter(plots[present[0]]))]
    for i in reversed(present):
        cycle = pattern.match(str(next(iter(plots[i])))).group(1)
        if cycle not in cycles:
            del plots[i]
    have = {pattern.match(str(next(iter(e)))).group(1) for e in plots if isinstance(e, dict) and pattern.match(str(next(iter(e))))}
    at = max([i for i, e in enumerate(plots) if isinstance(e, dict) and pattern.match(str(next(iter(e))))], default=len(plots) - 1) + 1
    for cycle in cycles:
        if cycle not in have:
            options = CommentedMap((k, v) for k, v in template.items()) if isinstance(template, dict) else template
            plots.insert(at, CommentedMap({CURVES.format(cycle): options}))
            at += 1


def add_cycles(path: str | Path, count: int = 1) -> list[str]:
    """Append ``count`` cycles after the last one; returns the new cycle names."""
    if count < 1:
        raise CarealError(f"cycles add: count must be 1 or more, got {count}")
    doc = _load(Path(path))
    numbers = _numbered(doc["cycles"], path)
    last = numbers[-1] if numbers else 0
    set_cycles(path, last + count)
    return [f"c{k}" for k in range(last + 1, last + count + 1)]
