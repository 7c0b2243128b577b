"""Reviews are data: adding review files to a finished run reruns just the stages that read them
(judge_reliability and pair, whose outputs then change only where they should), the judges
are measured against the person, `careal report` shows the corrected figures, and
pair.review_overrides puts the person's labels into the preference data."""

from __future__ import annotations

import json
import sys

import pytest
import yaml

from careal.review.sample import load_answers, sample_of
from careal.review.store import ReviewStore, review_path
from tests.reduced import base_env, copy_of, ran_stages, run

pytestmark = pytest.mark.slow
CAREAL = [sys.executable, "-m", "careal.cli"]
VERDICTS = ("Refuse", "Accept", "Caution", "Skip", "Refuse", "Refuse")


def add_reviews(project, cycle: str, answers: str, size: int) -> list[dict]:
    store = ReviewStore(review_path(cycle, answers, project))
    sample = sample_of(load_answers(cycle, answers, project), size, seed=0)
    for item, verdict in zip(sample, VERDICTS * size):
        store.save({"id": item["id"], "sample": item["sample"], "human_label": verdict, "judge_label": item["judge_label"],
                    "reviewer": "tester", "time": "2026-01-01T00:00:00Z", "prompt": item["prompt"], "response": item["response"]})
    return sample


def test_adding_reviews_reruns_just_the_stages_that_read_them(reduced_run, tmp_path):
    project = copy_of(reduced_run, tmp_path / "careal")
    env = {**base_env(), "PYTHONPATH": str(project)}
    kto_before = (project / "data/cycles/c1/kto.jsonl").read_bytes()
    headline_c2_before = (project / "metrics/judges/c2.json").read_bytes()

    add_reviews(project, "c1", "train", 6)
    add_reviews(project, "c2", "eval", 12)
    output = run(["dvc", "repro"], project, env)
    assert ran_stages(output) == {"judge_reliability@c1", "judge_reliability@c2", "pair@c1", "pair@c2"}
    assert (project / "data/cycles/c1/kto.jsonl").read_bytes() == kto_before  # overrides are off: same preference data

    details = json.loads((project / "metrics/judges/details/c1.json").read_text())
    human = details["human"]
    assert set(human) == {"train", "all"} and human["train"]["n"] == 5 and human["train"]["source"] == "reviews/c1-train.jsonl"
    assert set(human["train"]["train_judge"]) >= {"accuracy", "kappa", "macro_f1", "confusion", "per_class"}
    headline = json.loads((project / "metrics/judges/c1.json").read_text())
    assert headline["human_n"] == 5 and headline["train_human_accuracy"] == human["all"]["train_judge"]["accuracy"]
    c2 = json.loads((project / "metrics/judges/details/c2.json").read_text())
    assert c2["human"]["eval"]["n"] == 10 and (project / "metrics/judges/c2.json").read_bytes() != headline_c2_before

    report = run([*CAREAL, "report"], project, env)
    section = report[report.index("judge-corrected figures"):].splitlines()  # title, header, rule, then c2's two rows
    assert section[3].split()[:2] == ["c2", "10"] and section[3].split()[4] == "raw" and section[4].split()[0] == "corrected"

    params = yaml.safe_load((project / "params.yaml").read_text())
    params["pair"]["review_overrides"] = True
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run([*CAREAL, "pair", "-c", "c1"], project, env)
    counts = json.loads((project / "data/cycles/c1/pair_stats.json").read_text())["review_overrides"]
    assert counts["file"] == "reviews/c1-train.jsonl" and counts["reviews"] == 5 and counts["applied"] == 5 and counts["stale"] == 0
