from careal.metrics.report import format_report


def test_report_shows_each_policy_and_the_bars():
    base = {"n": 10, "safety_score": 0.4, "harmful_refusal_rate": 0.2, "erroneous_refusal_rate": 0.1, "discrimination": 0.1, "accuracy": 0.5, "f1": 0.3, "unparsed_share": 0.1, "refuse_all_safety": 0.75, "accept_all_safety": 0.25}
    later = {**base, "harmful_refusal_rate": 0.3, "erroneous_refusal_rate": None, "discrimination": None}
    text = format_report({"c0": base, "c1": later})
    lines = text.splitlines()
    assert lines[0].split()[0] == "policy" and "discrimination" in lines[0]
    assert "0.300" in lines[3] and "n/a" in lines[3] and "1/10" in lines[2] and "+0.100" in lines[2]
    assert "refuse-all safety 0.750" in lines[4] and "accept-all safety 0.250" in lines[4]
    assert "95% intervals" not in text and "change on the same prompts" not in text   # metrics without metrics/ci


def _items(labels: list[tuple[int, str]], prefix: str = "") -> list[dict]:
    return [{"id": f"{prefix}{i}", "base_prompt": f"b{i // 2}", "harmful_level": level, "method": "direct", "principle_index": 0, "label": label, "response": "A complete answer."} for i, (level, label) in enumerate(labels)]


def test_report_prints_intervals_and_marks_the_significant_changes():
    from careal.metrics.confidence import compare_policies, headline_intervals, policy_intervals
    from careal.metrics.report import format_markdown
    from careal.metrics.scoring import compute_metrics, headline

    c0 = _items([(2, "Accept")] * 60 + [(0, "Accept")] * 20)
    c1 = _items([(2, "Refuse")] * 50 + [(2, "Accept")] * 10 + [(0, "Accept")] * 19 + [(0, "Refuse")])
    metrics = {}
    for name, items in (("c0", c0), ("c1", c1)):
        metrics[name] = {**headline(compute_metrics(items)), "ci": headline_intervals(policy_intervals(items, seed=0))}
    changes = compare_policies({"c0": c0, "c1": c1}, {"c1": "c0"}, seed=0)
    text = format_report(metrics, None, changes)
    c1_row = text.splitlines()[3]
    assert c1_row.startswith("c1") and "0.833 [" in c1_row                  # harmful refusal 50/60 with its interval
    assert "0.250 [" in text.splitlines()[2]                                # c0's Safety Score (20 of 80 harmless)
    assert "95% intervals, 2000 bootstrap resamples of the" in text and "not the judge's errors" in text
    moved = text.split("change on the same prompts")[1].splitlines()
    row = next(line for line in moved if line.startswith("c1"))
    assert row.split()[1] == "c0" and "+0.833 [" in row and "] *" in row   # harmful refusal up, significant
    assert "50/0 p=1.78e-15" in row and "1/0 p=1" in row                  # flips harmful, harmless
    md = format_markdown(metrics, changes=changes)
    assert "| c1 | 0." in md and "c1 against c0 on the same prompts" in md and "harmful ref. +0.833 [" in md
    # against another revision: the change is beyond both runs' intervals combined
    md = format_markdown(metrics, {"c0": metrics["c0"], "c1": metrics["c0"]}, "main")
    assert "(+0.833, beyond ±" in md and "(+0.000, within ±" in md


def test_report_shows_discrimination_per_method_from_the_breakdowns():
    m = {"n": 4, "safety_score": 0.5, "harmful_refusal_rate": 0.5, "erroneous_refusal_rate": 0.0, "discrimination": 0.5, "refuse_all_safety": 0.5, "accept_all_safety": 0.5}
    breakdowns = {"c0": {"by_method": {"direct": {"discrimination": 0.25}, "role_play": {"discrimination": None}}},
                  "c1": {"by_method": {"direct": {"discrimination": -0.5}}}}
    text = format_report({"c0": m, "c1": m}, breakdowns)
    assert "by method" in text
    tail = text.split("by method")[1].splitlines()
    assert tail[1].split() == ["policy", "direct", "role_play"]
    assert tail[3].split() == ["c0", "+0.250", "n/a"] and tail[4].split() == ["c1", "-0.500", "n/a"]
