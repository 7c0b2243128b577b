"""careal review without a browser: the stratified sample, the review files (atomic, resumed),
the corrected refusal rates on known confusions, Label Studio's formats both ways, the reviews
as gold and as overrides. (tests/test_review_server.py drives the real page.)"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from careal.errors import DataError
from careal.review import corrected, labelstudio
from careal.review.gold import against_person, apply_overrides
from careal.review.sample import load_answers, sample_of, stratified_order, stratum
from careal.review.session import ReviewSession
from careal.review.store import ReviewStore, read_reviews, review_path
from tests.review_fixtures import make_project


def review(item: dict, human: str, reviewer: str = "tester") -> dict:
    return {"id": item["id"], "sample": item["sample"], "human_label": human, "judge_label": item["judge_label"],
            "reviewer": reviewer, "time": "2026-01-01T00:00:00Z", "prompt": item.get("prompt", "p"), "response": item["response"]}


@pytest.fixture()
def project(tmp_path):
    return make_project(tmp_path, n=48)


# --- the sample ------------------------------------------------------------------------------

def test_the_order_is_seeded_and_every_prefix_is_stratified(project):
    items = load_answers("c1", "eval", project)
    order = stratified_order(items, seed=3)
    assert [i["key"] for i in order] == [i["key"] for i in stratified_order(list(reversed(items)), seed=3)]
    assert [i["key"] for i in order] != [i["key"] for i in stratified_order(items, seed=4)]
    assert sorted(i["key"] for i in order) == sorted(i["key"] for i in items)
    strata = {stratum(i) for i in items}
    assert len(strata) == 16  # 4 harm levels x 4 judge labels
    assert {stratum(i) for i in order[:16]} == strata  # the first round takes one answer of each
    sample = sample_of(items, 20, seed=3)
    assert [i["key"] for i in sample] == [i["key"] for i in order[:20]]
    shown = sample[0]
    assert {"prompt", "harmful_level", "method", "response", "judge_label", "judge", "evidence"} <= set(shown)
    assert shown["judge"] == "rules" and shown["evidence"]["rule"].startswith("rule_")


def test_missing_and_malformed_answer_files_are_named(project):
    with pytest.raises(DataError, match=r"data/eval/c2/answers.jsonl: file not found \(run `dvc repro evaluate@c2` first\)"):
        load_answers("c2", "eval", project)
    path = project / "data/eval/c1/judgments.jsonl"
    rows = path.read_text().splitlines()
    rows[4] = json.dumps({**json.loads(rows[4]), "label": "Maybe"})
    path.write_text("\n".join(rows) + "\n")
    with pytest.raises(DataError, match=r"judgments.jsonl, row 5, field 'label': must be one of Accept, Caution, Refuse, Unparsed, got 'Maybe'"):
        load_answers("c1", "eval", project)


# --- the review file -------------------------------------------------------------------------

def test_verdicts_are_saved_one_by_one_and_a_new_session_resumes(project):
    sample = sample_of(load_answers("c1", "eval", project), 6, seed=0)
    path = review_path("c1", "eval", project)
    session = ReviewSession(sample, ReviewStore(path), "tester", "t")
    first = session.state()
    assert first["done"] == 0 and first["item"]["key"] == sample[0]["key"]
    session.verdict(sample[0]["key"], "Refuse")
    state = session.verdict(sample[1]["key"], "Skip")
    assert state["done"] == 2 and state["item"]["key"] == sample[2]["key"] and state["counts"]["Skip"] == 1
    on_disk = read_reviews(path)
    assert [(r["id"], r["human_label"]) for r in on_disk] == [(sample[0]["id"], "Refuse"), (sample[1]["id"], "Skip")]
    assert on_disk[0]["response"] == sample[0]["response"] and on_disk[0]["reviewer"] == "tester"

    again = ReviewSession(sample, ReviewStore(path), "tester", "t")  # reopened: resumes after the two
    assert again.state()["done"] == 2 and again.state()["item"]["key"] == sample[2]["key"]
    again.verdict(sample[0]["key"], "Caution")  # a second verdict replaces the first, moved to the end
    assert [(r["id"], r["human_label"]) for r in read_reviews(path)] == [(sample[1]["id"], "Skip"), (sample[0]["id"], "Caution")]
    with pytest.raises(ValueError, match="not an answer of this review sample"):
        again.verdict("cares-9999#0", "Accept")
    with pytest.raises(ValueError, match="label must be one of"):
        again.verdict(sample[3]["key"], "accept")


def test_a_write_cut_short_leaves_the_file_as_it_was(project, monkeypatch):
    import jsonlines

    sample = sample_of(load_answers("c1", "eval", project), 4, seed=0)
    path = review_path("c1", "eval", project)
    store = ReviewStore(path)
    store.save(review(sample[0], "Refuse"))
    before = path.read_bytes()

    class Broken(jsonlines.Writer):
        def write(self, obj):
            raise OSError("disk full")

    monkeypatch.setattr(jsonlines, "open", lambda file, mode="r", **kw: Broken(open(file, "w", encoding="utf-8"), **kw))
    with pytest.raises(OSError, match="disk full"):
        store.save(review(sample[1], "Accept"))
    assert path.read_bytes() == before
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary left behind


@pytest.mark.parametrize("change, where", [
    ({"human_label": "Maybe"}, "row 2, field 'human_label': must be one of Accept, Caution, Refuse, Skip"),
    ({"sample": -1}, "row 2, field 'sample': must be a whole number >= 0"),
    ({"reviewer": None}, "row 2, field 'reviewer': must be a string"),
    ({"extra": 1}, "row 2, field 'extra': unknown field"),
    ({"sample": 0, "id": "cares-0000"}, "row 2, field 'id': second review of id 'cares-0000' sample 0 (first in row 1)"),
])
def test_a_malformed_review_file_names_row_and_field(tmp_path, change, where):
    path = tmp_path / "reviews" / "c1-eval.jsonl"
    path.parent.mkdir()
    good = review({"id": "cares-0000", "sample": 0, "judge_label": "Accept", "response": "r"}, "Refuse")
    second = {**review({"id": "cares-0001", "sample": 0, "judge_label": "Accept", "response": "r"}, "Accept"), **change}
    path.write_text(json.dumps(good) + "\n" + json.dumps(second) + "\n")
    with pytest.raises(DataError) as error:
        read_reviews(path)
    assert str(error.value).startswith(str(path)) and where in str(error.value)


# --- corrected estimates ---------------------------------------------------------------------

def items_of(spec: list[tuple[int, str, int]]) -> list[dict]:
    """Eval answers: (harm level, judge label, how many), each its own base prompt."""
    out = []
    for level, label, count in spec:
        for k in range(count):
            key = f"l{level}-{label}-{k}"
            out.append({"key": f"{key}#0", "id": key, "sample": 0, "base_prompt": key, "harmful_level": level, "judge_label": label, "response": key})
    return out


def test_a_known_confusion_gives_a_known_correction():
    items = items_of([(3, "Accept", 100), (0, "Refuse", 100)])
    by_stratum = {}
    for item in items:
        by_stratum.setdefault(stratum(item), []).append(item)
    # the person: half of the harmful Accepts should have been refused; every harmless Refuse was fine to answer
    reviews = [review(i, "Refuse" if k % 2 else "Accept") for k, i in enumerate(by_stratum[(3, "Accept")][:10])]
    reviews += [review(i, "Accept") for i in by_stratum[(0, "Refuse")][:10]]
    result = corrected.corrected_estimates(items, reviews, seed=0, n_resamples=400)
    f = result["figures"]
    assert f["harmful_refusal_rate"]["raw"]["value"] == 0.0 and f["harmful_refusal_rate"]["corrected"]["value"] == 0.5
    assert f["erroneous_refusal_rate"]["raw"]["value"] == 1.0 and f["erroneous_refusal_rate"]["corrected"]["value"] == 0.0
    assert f["safety_score"]["raw"]["value"] == 0.0 and f["safety_score"]["corrected"]["value"] == 0.75  # (0.5 x 1 + 1 x 1) / 2
    lo, hi = f["harmful_refusal_rate"]["corrected"]["lo"], f["harmful_refusal_rate"]["corrected"]["hi"]
    assert lo < 0.5 < hi  # ten reviews: the review sample's own uncertainty is in the interval
    assert f["erroneous_refusal_rate"]["corrected"]["lo"] == f["erroneous_refusal_rate"]["corrected"]["hi"] == 0.0
    assert result["reviews"] == 20 and result["uncorrected_answers"] == 0
    assert result["judge_vs_human"]["accuracy"] == 0.25  # 5 of 10 harmful Accepts right, no harmless Refuse right
    assert result["judge_vs_human"]["confusion"]["Accept"]["Refuse"] == 5


def test_reviews_are_weighted_by_their_stratum_and_unreviewed_cells_keep_the_judge():
    # harmful answers the judge accepted: 90 at level 1 (the person refuses them), 10 at level 3
    # (the person accepts them); two reviews each. Weighted by stratum size: 0.9 refused, not 0.5.
    items = items_of([(1, "Accept", 90), (3, "Accept", 10), (2, "Refuse", 20), (0, "Accept", 30)])
    by_stratum = {}
    for item in items:
        by_stratum.setdefault(stratum(item), []).append(item)
    reviews = [review(i, "Refuse") for i in by_stratum[(1, "Accept")][:2]] + [review(i, "Accept") for i in by_stratum[(3, "Accept")][:2]]
    reviews.append({**review(by_stratum[(0, "Accept")][0], "Refuse"), "response": "an older answer"})  # stale: left out
    reviews.append(review(by_stratum[(0, "Accept")][1], "Skip"))  # skipped: left out
    result = corrected.corrected_estimates(items, reviews, seed=0, n_resamples=200)
    assert result["figures"]["harmful_refusal_rate"]["raw"]["value"] == pytest.approx(20 / 120, abs=1e-6)
    assert result["figures"]["harmful_refusal_rate"]["corrected"]["value"] == pytest.approx((90 + 20) / 120, abs=1e-6)
    assert result["figures"]["erroneous_refusal_rate"]["corrected"]["value"] == 0.0  # harmless Accepts: no usable review
    assert result["uncorrected_cells"] == {"level 0 Accept": 30, "level 2 Refuse": 20} and result["uncorrected_answers"] == 50
    assert (result["stale"], result["skipped"], result["reviews"]) == (1, 1, 4)
    with pytest.raises(ValueError, match="no usable review"):
        corrected.corrected_estimates(items, reviews[-2:], seed=0)


# --- Label Studio ----------------------------------------------------------------------------

def test_label_studio_export_then_its_json_export_back(project, tmp_path):
    sample = sample_of(load_answers("c1", "eval", project), 5, seed=0)
    tasks_path, config_path = labelstudio.export_tasks(sample, "c1", "eval", tmp_path / "ls" / "tasks.json")
    tasks = json.loads(tasks_path.read_text())
    assert len(tasks) == 5 and all(set(t) == {"data"} for t in tasks)
    data = tasks[0]["data"]
    assert data["prompt"] == sample[0]["prompt"] and data["response"] == sample[0]["response"]
    assert (data["careal_cycle"], data["careal_answers"], data["careal_id"], data["careal_sample"]) == ("c1", "eval", sample[0]["id"], 0)
    assert sample[0]["judge_label"] in data["context"] and "rule_" in data["context"]
    config = ET.fromstring(config_path.read_text())
    choices = config.find("Choices")
    assert choices.get("name") == "label" and choices.get("toName") == "response"
    assert [c.get("value") for c in choices.findall("Choice")] == ["Accept", "Caution", "Refuse"]
    assert {t.get("value") for t in config.findall("Text")} == {"$prompt", "$response", "$context"}

    # Label Studio's JSON export of that project: the tasks back with ids, annotations and predictions
    def annotation(choice, user, updated, cancelled=False):
        return {"id": 1000 + len(user if isinstance(user, str) else str(user)), "completed_by": user, "was_cancelled": cancelled, "ground_truth": False,
                "created_at": "2026-01-02T10:00:00.000000Z", "updated_at": updated, "lead_time": 3.2, "task": 1,
                "result": [{"id": "aB3x", "type": "choices", "from_name": "label", "to_name": "response", "origin": "manual", "value": {"choices": [choice]}}]}

    exported = []
    for n, task in enumerate(tasks, start=1):
        exported.append({"id": n, "data": task["data"], "annotations": [], "predictions": [], "meta": {}, "project": 7,
                         "created_at": "2026-01-02T09:00:00.000000Z", "updated_at": "2026-01-02T11:00:00.000000Z"})
    exported[0]["annotations"] = [annotation("Accept", 3, "2026-01-02T10:00:00.000000Z"), annotation("Refuse", 3, "2026-01-02T10:05:00.000000Z")]
    exported[1]["annotations"] = [annotation("Caution", {"id": 4, "email": "ana@example.org", "first_name": "Ana", "last_name": ""}, "2026-01-02T10:01:00.000000Z")]
    exported[2]["annotations"] = [annotation("Refuse", 3, "2026-01-02T10:02:00.000000Z", cancelled=True)]  # skipped in Label Studio
    export_path = tmp_path / "project-7-at-2026-01-02.json"
    export_path.write_text(json.dumps(exported))
    counts = labelstudio.import_export(export_path, project)
    assert counts == {"files": {(project / "reviews/c1-eval.jsonl").as_posix(): 2}, "written": 2, "unannotated": 3}
    records = read_reviews(review_path("c1", "eval", project))
    assert [(r["id"], r["human_label"], r["reviewer"]) for r in records] == [
        (sample[0]["id"], "Refuse", "label-studio:3"), (sample[1]["id"], "Caution", "label-studio:ana@example.org")]
    assert records[0]["time"] == "2026-01-02T10:05:00.000000Z" and records[0]["response"] == sample[0]["response"]

    # the same file the page writes: its sample resumes after them
    session = ReviewSession(sample, ReviewStore(review_path("c1", "eval", project)), "tester", "t")
    assert session.state()["done"] == 2 and session.state()["item"]["key"] == sample[2]["key"]

    exported[3]["annotations"] = [annotation("Maybe", 3, "2026-01-02T10:03:00.000000Z")]
    export_path.write_text(json.dumps(exported))
    with pytest.raises(DataError, match=r"project-7-at-2026-01-02.json, row 4, field 'annotations.result.value.choices': must be one of Accept, Caution, Refuse, got \['Maybe'\]"):
        labelstudio.import_export(export_path, project)
    del exported[3]["data"]["careal_id"]
    export_path.write_text(json.dumps(exported))
    with pytest.raises(DataError, match=r"row 4, field 'data.careal_id': missing"):
        labelstudio.import_export(export_path, project)


# --- the reviews as gold and as overrides ----------------------------------------------------

def test_each_judge_against_the_person_and_overrides_in_the_preference_data(tmp_path):
    records = [review({"id": f"p{i}", "sample": 0, "judge_label": "Accept", "response": f"r{i}"}, human) for i, human in enumerate(["Accept", "Refuse", "Refuse", "Caution"])]
    human = against_person("c2", {"train": records}, {"train": {"train": ["Accept", "Accept", "Refuse", "Caution"], "eval": ["Accept", "Refuse", "Refuse", "Caution"]}})
    assert human["train"]["source"] == "reviews/c2-train.jsonl" and human["train"]["reviewers"] == ["tester"]
    assert human["train"]["train_judge"]["accuracy"] == 0.75 and human["train"]["eval_judge"]["accuracy"] == 1.0
    assert human["train"]["train_judge"]["confusion"]["Accept"]["Refuse"] == 1 and human["all"]["n"] == 4

    items = [{"id": f"p{i}", "sample": 0, "response": f"r{i}", "label": "Accept", "harmful_level": 2} for i in range(5)]
    items[3]["response"] = "generated again"
    missing = tmp_path / "reviews" / "c2-train.jsonl"
    assert apply_overrides(items, missing) == (items, {"file": missing.as_posix(), "reviews": 0, "applied": 0, "changed": 0, "stale": 0})
    store = ReviewStore(missing)
    for record in records + [review({"id": "p4", "sample": 0, "judge_label": "Accept", "response": "r4"}, "Skip")]:
        store.save(record)
    overridden, counts = apply_overrides(items, missing)
    assert [i["label"] for i in overridden] == ["Accept", "Refuse", "Refuse", "Accept", "Accept"]  # p3's text changed: kept
    assert counts == {"file": missing.as_posix(), "reviews": 4, "applied": 3, "changed": 2, "stale": 1}
    assert items[1]["label"] == "Accept"  # the judged items themselves are left as they were
