"""The degenerate-text filters on real replies of the default model, hand-labelled
(tests/filters/data/; `benchmarks.collect_replies` saved them, `benchmarks.degenerate_filters`
reports precision and recall on them)."""

from __future__ import annotations

from benchmarks.degenerate_filters import LABELS, REPLIES, evaluate, parsed_tasks


def test_the_fixture_parses_into_the_instances_that_were_labelled() -> None:
    tasks = parsed_tasks()
    assert len(tasks) == 113 and sum(len(t["instances"]) for t in tasks) == 501
    for task in tasks:
        assert [i["position"] for i in task["labels"]["instances"]] == list(
            range(len(task["instances"]))
        )
    assert REPLIES.exists() and LABELS.exists()


def test_no_filter_drops_an_instance_labelled_good_and_each_catches_its_cases() -> None:
    scores = evaluate()
    for name in ("repetition", "markup", "restatement", "label_set", "instruction_markup"):
        assert scores[name].good_dropped == 0, name
        assert not scores[name].false_alarms, (name, scores[name].false_alarms)
    assert scores["repetition"].caught >= 2
    assert scores["restatement"].caught >= 1
    assert scores["label_set"].caught >= 140
    # Together with the paper's filters: more of the bad data goes, no more good data.
    assert scores["all filters"].caught > scores["paper's filters only"].caught
    assert scores["all filters"].good_dropped == scores["paper's filters only"].good_dropped
