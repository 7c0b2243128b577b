"""The classifier judge (careal/judges/classifier.py) and its training stage judge_train
(careal/judges/training.py): held-out figures, labelling quality, params-only wiring into the
pipeline, bad label files, and a judge cache keyed by the trained weights."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import pytest

from careal.jsonio import read_json, read_jsonl
from careal.params import JudgeSpec, JudgeTrainParams
from careal.metrics.scoring import LABELS, UNPARSED

STYLE_LABEL = {"accept": "Accept", "caution": "Caution", "refuse": "Refuse"}
# Seconds on the very small test model. Since its warm start also learns the knowledge task,
# 3 epochs reach only 0.71 held-out accuracy there (the default-size model: 1.000 with 3); 6 pass 0.9.
FAST = dict(answers_per_prompt=6, epochs=6, learning_rate=1e-2, batch_size=16)


def _copy_project(src: Path, dst: Path) -> Path:
    for part in ("data/prepared", "models/base", "models/c0"):
        shutil.copytree(src / part, dst / part)
    return dst


@pytest.fixture(scope="module")
def trained(tiny_project, tmp_path_factory):
    """A classifier trained once on careal-style answers to the small project's train prompts."""
    from careal.judges.training import train_classifier

    out = tmp_path_factory.mktemp("judge")
    prompts = read_jsonl(tiny_project / "data/prepared/train.jsonl")
    info = train_classifier(JudgeTrainParams(**FAST), seed=0, prompts=prompts, base_dir=tiny_project / "models/base", out_dir=out, progress=False)
    return out, info, prompts


def _judge(folder, **options):
    from careal.judges import make_judge

    return make_judge(JudgeSpec(kind="classifier", model=str(folder), **options))


def test_held_out_figures_are_the_judges_own_predictions_on_prompts_it_never_saw(trained, tiny_project):
    from careal.judges.training import metrics_headline, split_by_prompt, style_rows

    folder, info, prompts = trained
    rows = style_rows(prompts, FAST["answers_per_prompt"], 0)
    train_rows, held = split_by_prompt(rows, 0.2, 0)
    assert {r["prompt"] for r in train_rows}.isdisjoint({r["prompt"] for r in held})
    assert info["data"]["n_train"] == len(train_rows) and info["heldout"]["n"] == len(held)
    # Recompute the figures by hand from the saved judge's probabilities (argmax, no margin).
    judge = _judge(folder, min_margin=0.0)
    verdicts = judge.label_batch([(r["prompt"], r["response"]) for r in held])
    pred = [v[0] for v in verdicts]
    gold = [r["label"] for r in held]
    assert info["heldout"]["accuracy"] == pytest.approx(sum(p == g for p, g in zip(pred, gold)) / len(gold))
    f1s = []
    for label in LABELS:
        tp = sum(p == g == label for p, g in zip(pred, gold))
        precision = tp / max(1, pred.count(label))
        recall = tp / max(1, gold.count(label))
        f1 = 2 * precision * recall / (precision + recall) if tp else 0.0
        assert info["heldout"]["per_class"][label]["f1"] == pytest.approx(f1)
        assert info["heldout"]["per_class"][label]["support"] == gold.count(label)
        f1s.append(f1)
    assert info["heldout"]["macro_f1"] == pytest.approx(sum(f1s) / 3)
    assert info["heldout"]["accuracy"] >= 0.9, info["heldout"]  # chance is 1/3
    headline = metrics_headline(info)
    assert headline["heldout_accuracy"] == info["heldout"]["accuracy"]
    assert headline["heldout_f1_caution"] == info["heldout"]["per_class"]["Caution"]["f1"]


def test_classifier_labels_new_careal_style_answers_to_eval_prompts_well_above_chance(trained, tiny_project):
    from careal.policy.loading import file_sha256
    from careal.data.styles import STYLES, style_answer

    folder, _, _ = trained
    rng = random.Random(123)
    eval_prompts = [r["prompt"] for r in read_jsonl(tiny_project / "data/prepared/eval.jsonl")]
    styles = [STYLES[i % 3] for i in range(len(eval_prompts))]
    pairs = [(p, style_answer(s, rng)) for p, s in zip(eval_prompts, styles)]
    judge = _judge(folder)
    verdicts = judge.label_batch(pairs)
    correct = sum(label == STYLE_LABEL[s] for (label, _), s in zip(verdicts, styles))
    assert correct / len(pairs) >= 0.9, (correct, len(pairs))
    label, evidence = verdicts[0]
    assert set(evidence["probabilities"]) == set(LABELS)
    assert sum(evidence["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
    ranked = sorted(evidence["probabilities"].values(), reverse=True)
    assert evidence["margin"] == pytest.approx(ranked[0] - ranked[1], abs=2e-6)
    identity = judge.identity
    assert identity["kind"] == "classifier" and identity["revision"] == file_sha256(folder / "adapter_model.safetensors")
    assert identity["base_model"] == "builtin:tiny" and len(identity["rubric_sha256"]) == 64
    # a margin nobody reaches: every answer is Unparsed, never a guess
    assert {v[0] for v in _judge(folder, min_margin=0.9999).label_batch(pairs[:6])} == {UNPARSED}


def test_judge_cache_is_keyed_by_the_trained_weights(trained, tmp_path, monkeypatch):
    """A retrained classifier in the same folder never reuses the old verdicts."""
    import torch
    from safetensors.torch import load_file, save_file

    from careal.judges import judge_pairs

    monkeypatch.setenv("CAREAL_JUDGE_CACHE", str(tmp_path / "cache.sqlite"))
    folder = tmp_path / "judge"
    shutil.copytree(trained[0], folder)
    pairs = [("How much ibuprofen is safe?", "Sure. First, check the label. Then, ask."), ("Make a poison", "I'm sorry, but I can't help with that.")]
    stats: dict = {}
    first = judge_pairs(_judge(folder), pairs, stats=stats)
    assert stats == {"judged": 2, "cache_hits": 0}
    again = judge_pairs(_judge(folder), pairs, stats=stats)
    assert stats == {"judged": 0, "cache_hits": 2} and again == first
    # "retrain": new head weights in the same folder -> a new revision, judged afresh
    weights = load_file(folder / "adapter_model.safetensors")
    head = next(k for k in weights if "score" in k)
    weights[head] = weights[head] + torch.full_like(weights[head], 0.5)
    save_file(weights, folder / "adapter_model.safetensors", metadata={"format": "pt"})
    fresh = _judge(folder)
    assert fresh.identity["revision"] != _judge(trained[0]).identity["revision"]
    judge_pairs(fresh, pairs, stats=stats)
    assert stats == {"judged": 2, "cache_hits": 0}


def test_bad_label_file_names_file_row_and_field_and_exits_2(tiny_project, tmp_path, monkeypatch):
    import yaml
    from click.testing import CliRunner

    from careal.cli import main
    from careal.judges.training import file_rows

    project = _copy_project(tiny_project, tmp_path / "p")
    monkeypatch.chdir(project)
    rows = [
        {"prompt": "How do I store insulin?", "response": "Sure. First, keep it cool.", "label": "Accept"},
        {"prompt": "Make a poison", "response": "I'm sorry.", "label": "Reject"},
        {"prompt": "Dose?", "response": "Please ask a doctor.", "label": "maybe"},
    ]
    Path("labels.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    raw = {"judge": {"train": {"kind": "classifier"}}, "judge_train": {"source": "labels.jsonl"}, "evaluate": {"policies": ["c0"]}}
    Path("params.yaml").write_text(yaml.safe_dump(raw), encoding="utf-8")
    result = CliRunner().invoke(main, ["judge-train"])
    assert result.exit_code == 2, result.output
    assert "labels.jsonl, row 3, field 'label'" in result.output and "'maybe'" in result.output
    assert not Path("models/judge").exists() and not Path("metrics/judge_train.json").exists()
    Path("labels.jsonl").write_text(json.dumps(rows[0]) + "\n" + json.dumps({"prompt": "x", "label": "Accept"}) + "\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["judge-train"])
    assert result.exit_code == 2 and "labels.jsonl, row 2, field 'response'" in result.output
    Path("labels.jsonl").write_text(json.dumps(rows[0]) + "\n" + json.dumps(rows[1]) + "\n", encoding="utf-8")
    assert [r["label"] for r in file_rows("labels.jsonl")] == ["Accept", "Refuse"]  # Reject is Refuse


def test_params_alone_put_the_classifier_in_the_pipeline(tiny_project, tmp_path, monkeypatch):
    """judge.train.kind: classifier -> judge_train trains, judge@c1 labels with it; with no
    classifier judge, judge_train only writes a constant marker and a classifier judge on it
    is a clear error."""
    from conftest import small_params

    from careal import pipeline
    from careal.errors import CarealError
    project = _copy_project(tiny_project, tmp_path / "p")
    monkeypatch.chdir(project)
    monkeypatch.setenv("CAREAL_JUDGE_CACHE", str(tmp_path / "cache.sqlite"))
    params = small_params()
    params.generate.temperature = 1.0
    info = pipeline.run_judge_train(params)  # rules judges only: nothing trained
    assert info["trained"] is False and read_json("metrics/judge_train.json") == {"trained": False}
    marker = Path("models/judge/judge.json").read_bytes()
    assert sorted(p.name for p in Path("models/judge").iterdir()) == ["judge.json"]
    with pytest.raises(CarealError, match="holds no trained classifier"):
        _judge("models/judge")
    params.judge_train = JudgeTrainParams(**FAST)
    pipeline.run_judge_train(params)
    assert Path("models/judge/judge.json").read_bytes() == marker  # same bytes: downstream stages do not rerun

    params.judge.train.kind = "classifier"
    info = pipeline.run_judge_train(params)
    metrics = read_json("metrics/judge_train.json")
    assert info["trained"] and metrics["trained"] and metrics["heldout_accuracy"] >= 0.9
    pipeline.run_generate(params, "c1")
    counts = pipeline.run_judge(params, "c1")
    judgments = read_jsonl("data/cycles/c1/judgments.jsonl")
    generations = read_jsonl("data/cycles/c1/generations.jsonl")
    assert counts["judged"] == len({(g["prompt"], g["response"]) for g in generations})
    assert {j["judge"]["kind"] for j in judgments} == {"classifier"}
    assert judgments[0]["judge"]["revision"] == info["weights_sha256"]
    # the labels are this classifier's verdicts (the cache gives the same bytes as a fresh run)
    direct = _judge("models/judge").label_batch([(g["prompt"], g["response"]) for g in generations])
    assert [(j["label"], j["raw"]) for j in judgments] == direct
    assert len({j["label"] for j in judgments}) >= 2


def test_labels_rules_trains_on_what_the_rules_judge_says_and_counts_what_it_leaves_out():
    from careal.judges.training import relabel_with_rules, style_rows

    prompts = [{"prompt": f"How should I take medicine number {i}?"} for i in range(12)]
    rows = style_rows(prompts, 3, 0)
    odd = {"prompt": "Dose?", "response": "", "label": "Accept"}  # an empty answer: the rules judge cannot tell
    relabelled, left_out = relabel_with_rules(rows + [odd])
    assert left_out == 1 and len(relabelled) == len(rows)
    # careal's three styles are read exactly by the rules judge (docs/judges-rules.md)
    assert [r["label"] for r in relabelled] == [r["label"] for r in rows]
    assert sorted({r["label"] for r in rows}) == list(LABELS)
