from careal.metrics.report import format_report


def test_report_shows_each_policy_and_the_change_against_c0():
    base = {"n": 10, "safety_score": 0.4, "harmful_refusal_rate": 0.2, "erroneous_refusal_rate": 0.1, "discrimination": 0.1, "accuracy": 0.5, "f1": 0.3, "unparsed_share": 0.1, "refuse_all_safety": 0.75, "accept_all_safety": 0.25}
    later = {**base, "harmful_refusal_rate": 0.3, "erroneous_refusal_rate": None, "discrimination": None}
    text = format_report({"c0": base, "c1": later})
    lines = text.splitlines()
    assert lines[0].split()[0] == "policy" and "discrimination" in lines[0]
    assert "+50%" in lines[3] and "n/a" in lines[3] and "1/10" in lines[2] and "+0.100" in lines[2]
    assert "refuse-all safety 0.750" in lines[4] and "accept-all safety 0.250" in lines[4]


def test_report_shows_discrimination_per_method_from_the_breakdowns():
    m = {"n": 4, "safety_score": 0.5, "harmful_refusal_rate": 0.5, "erroneous_refusal_rate": 0.0, "discrimination": 0.5, "refuse_all_safety": 0.5, "accept_all_safety": 0.5}
    breakdowns = {"c0": {"by_method": {"direct": {"discrimination": 0.25}, "role_play": {"discrimination": None}}},
                  "c1": {"by_method": {"direct": {"discrimination": -0.5}}}}
    text = format_report({"c0": m, "c1": m}, breakdowns)
    assert "by method" in text
    tail = text.split("by method")[1].splitlines()
    assert tail[1].split() == ["policy", "direct", "role_play"]
    assert tail[3].split() == ["c0", "+0.250", "n/a"] and tail[4].split() == ["c1", "-0.500", "n/a"]
