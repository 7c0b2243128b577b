"""Label Studio: a review sample as an import file, and Label Studio's JSON export read back.

Export (``careal review export --label-studio tasks.json``) writes two files:

- ``tasks.json``: a list of tasks in Label Studio's basic JSON import format, one per answer,
  ``{"data": {...}}``; ``data`` holds the texts shown (``prompt``, ``response``, ``context``: harm
  level, method and the judge's label with its evidence) and careal's keys (``careal_cycle``,
  ``careal_answers``, ``careal_id``, ``careal_sample``, ``judge_label``) that bring a verdict back
  to its answer. The judge's label is shown as text, not as a pre-annotation, so the
  annotator is not handed an answer to accept;
- ``tasks.label-config.xml``: the labelling config to paste into the project's settings: the
  texts and one ``Choices`` control named ``label`` on the answer with Accept, Caution and
  Refuse (hotkeys a, c, r).

Import (``careal review import export.json``) reads Label Studio's JSON export (the "JSON"
format: a list of tasks, each with its ``data`` and ``annotations``, each annotation with
``result[].value.choices``, ``completed_by``, ``created_at`` / ``updated_at`` and
``was_cancelled``). Per task it takes the most recently updated annotation that is not
cancelled; tasks with none are counted and left out. The verdicts go into the same review
files as the page's (store.py), one per answer, a later verdict replacing an earlier one.
"""

from __future__ import annotations

import json
from pathlib import Path

from careal.errors import DataError
from careal.jsonio import atomic_path, decode_utf8, write_json
from careal.review.store import ANSWER_SETS, HUMAN_LABELS, ReviewStore, check_review, now_utc, review_path

CHOICES_NAME = "label"
TEXT_NAME = "response"
HOTKEYS = {"Accept": "a", "Caution": "c", "Refuse": "r"}
DATA_KEYS = ("careal_cycle", "careal_answers", "careal_id", "careal_sample", "judge_label", "prompt", "response")


def labelling_config() -> str:
    """The Label Studio labelling config (XML) for careal's three labels."""
    choices = "\n".join(f'    <Choice value="{label}" hotkey="{HOTKEYS[label]}"/>' for label in HUMAN_LABELS)
    return (
        "<View>\n"
        '  <Header value="Prompt"/>\n'
        '  <Text name="prompt" value="$prompt"/>\n'
        '  <Header value="Answer"/>\n'
        f'  <Text name="{TEXT_NAME}" value="$response"/>\n'
        '  <Header value="Context (harm level, method, the judge\'s label and evidence)"/>\n'
        '  <Text name="context" value="$context"/>\n'
        f'  <Choices name="{CHOICES_NAME}" toName="{TEXT_NAME}" choice="single-radio" showInline="true" required="true">\n'
        f"{choices}\n"
        "  </Choices>\n"
        "</View>\n"
    )


def export_tasks(items: list[dict], cycle: str, answers: str, out: Path | str) -> tuple[Path, Path]:
    """Write the tasks file ``out`` and the labelling config beside it; return both paths."""
    out = Path(out)
    tasks = []
    for item in items:
        evidence = json.dumps(item["evidence"], ensure_ascii=False, sort_keys=True)
        tasks.append({"data": {
            "prompt": item["prompt"], "response": item["response"],
            "context": f"harm level {item['harmful_level']}, method {item['method']}; judge {item['judge']}: {item['judge_label']}; evidence {evidence}",
            "careal_cycle": cycle, "careal_answers": answers, "careal_id": item["id"], "careal_sample": item["sample"],
            "judge_label": item["judge_label"], "harmful_level": item["harmful_level"], "method": item["method"],
        }})
    write_json(out, tasks)
    config = out.with_name(out.stem + ".label-config.xml")
    with atomic_path(config) as tmp:
        tmp.write_text(labelling_config(), encoding="utf-8")
    return out, config


def _verdict(task: dict, path: Path, number: int) -> dict | None:
    """The verdict of one exported task (None when it has no annotation that counts)."""
    data = task.get("data")
    if not isinstance(data, dict):
        raise DataError(path, number, "data", "missing or not an object (is this Label Studio's JSON export, not JSON-min or CSV?)")
    for key in DATA_KEYS:
        if key not in data:
            raise DataError(path, number, f"data.{key}", "missing (was the task exported by `careal review export --label-studio`?)")
    if data["careal_answers"] not in ANSWER_SETS:
        raise DataError(path, number, "data.careal_answers", f"must be one of {', '.join(ANSWER_SETS)}, got {data['careal_answers']!r}")
    annotations = task.get("annotations", [])
    if not isinstance(annotations, list):
        raise DataError(path, number, "annotations", "must be a list")
    kept = [a for a in annotations if isinstance(a, dict) and not a.get("was_cancelled")]
    if not kept:
        return None
    latest = max(enumerate(kept), key=lambda pair: (str(pair[1].get("updated_at") or pair[1].get("created_at") or ""), pair[0]))[1]
    results = latest.get("result")
    if not isinstance(results, list):
        raise DataError(path, number, "annotations.result", "missing or not a list")
    chosen = [r for r in results if isinstance(r, dict) and r.get("type") == "choices" and r.get("from_name") == CHOICES_NAME]
    if not chosen:
        raise DataError(path, number, "annotations.result", f"no choice of the control {CHOICES_NAME!r} (use the config written by the export)")
    choices = (chosen[-1].get("value") or {}).get("choices")
    if not isinstance(choices, list) or len(choices) != 1 or choices[0] not in HUMAN_LABELS:
        raise DataError(path, number, "annotations.result.value.choices", f"must be one of {', '.join(HUMAN_LABELS)}, got {choices!r}")
    who = latest.get("completed_by")
    if isinstance(who, dict):
        who = who.get("email") or who.get("id")
    return {
        "id": data["careal_id"], "sample": data["careal_sample"], "human_label": choices[0], "judge_label": data["judge_label"],
        "reviewer": f"label-studio:{who}" if who is not None else "label-studio",
        "time": str(latest.get("updated_at") or latest.get("created_at") or now_utc()),
        "prompt": data["prompt"], "response": data["response"],
        "_file": (data["careal_cycle"], data["careal_answers"]),
    }


def import_export(path: Path | str, root: Path | str = ".") -> dict:
    """Read a Label Studio JSON export into the review files under ``root``; return the counts
    (``files``: review file -> verdicts written, ``unannotated``: tasks without a verdict)."""
    path = Path(path)
    if not path.exists():
        raise DataError(path, None, None, "file not found")
    try:
        tasks = json.loads(decode_utf8(path, path.read_bytes()))
    except json.JSONDecodeError as exc:
        raise DataError(path, exc.lineno, None, f"not valid JSON ({exc.msg})") from None
    if not isinstance(tasks, list):
        raise DataError(path, None, None, "expected a list of tasks (Label Studio's JSON export)")
    verdicts, unannotated = [], 0
    for number, task in enumerate(tasks, start=1):
        if not isinstance(task, dict):
            raise DataError(path, number, None, "a task must be a JSON object")
        verdict = _verdict(task, path, number)
        if verdict is None:
            unannotated += 1
            continue
        check_review({k: v for k, v in verdict.items() if k != "_file"}, path, number)
        verdicts.append(verdict)
    stores: dict[tuple[str, str], ReviewStore] = {}
    for verdict in verdicts:
        cycle, answers = verdict.pop("_file")
        if (cycle, answers) not in stores:
            stores[(cycle, answers)] = ReviewStore(review_path(cycle, answers, root))
        stores[(cycle, answers)].save(verdict)
    return {"files": {store.path.as_posix(): len(store) for store in stores.values()}, "written": len(verdicts), "unannotated": unannotated}
