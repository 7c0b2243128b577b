from careal.report import format_report


def test_report_shows_each_policy_and_the_change_against_c0():
    base = {"n": 10, "safety_score": 0.4, "harmful_refusal_rate": 0.2, "erroneous_refusal_rate": 0.1, "accuracy": 0.5, "f1": 0.3, "label_counts": {"Unparsed": 1}}
    later = {**base, "harmful_refusal_rate": 0.3, "erroneous_refusal_rate": None}
    text = format_report({"c0": base, "c1": later})
    lines = text.splitlines()
    assert lines[0].split()[0] == "policy" and len(lines) == 4
    assert "+50%" in lines[3] and "n/a" in lines[3] and "1/10" in lines[2]
