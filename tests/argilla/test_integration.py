"""Round trips against the real local Argilla server (see conftest.py)."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import pytest

from distilabel_selfinstruct.argilla import cli
from distilabel_selfinstruct.argilla import schema as s
from distilabel_selfinstruct.argilla.push import ReviewServerError, push_tasks
from distilabel_selfinstruct.argilla.review import curate, pull_reviews
from tests.argilla.helpers import make_classification_task, make_task

pytestmark = pytest.mark.argilla

YES, NO, NA = s.YES, s.NO, s.NOT_APPLICABLE


def server_records(client, name: str, workspace: str) -> list:
    dataset = client.datasets(name=name, workspace=workspace)
    return list(dataset.records(with_responses=True, with_suggestions=True))


def push(server, client, name: str, tasks: list[dict], **kwargs):
    return push_tasks(tasks, name, server.workspace, client=client, **kwargs)


def test_push_creates_dataset_and_records(argilla_server, client, dataset_name) -> None:
    tasks = [make_classification_task(0), make_task(1), make_task(2, instances=[])]
    result = push(argilla_server, client, dataset_name, tasks)
    assert (result.tasks, result.records_sent, result.created, result.updated) == (3, 3, 3, 0)
    assert result.tasks_without_instances == 1
    assert result.workspace == argilla_server.workspace

    dataset = client.datasets(name=dataset_name, workspace=argilla_server.workspace)
    assert [f.name for f in dataset.settings.fields] == [
        s.FIELD_INSTRUCTION,
        s.FIELD_INPUT,
        s.FIELD_OUTPUT,
        s.FIELD_LABELS,
        s.FIELD_SIMILAR,
        s.FIELD_JUDGE_RATIONALE,
    ]
    assert dataset.settings.distribution.min_submitted == 1
    records = {r.id: r for r in server_records(client, dataset_name, argilla_server.workspace)}
    cls_id = f"{tasks[0]['task_id']}-1"
    gen_id = f"{tasks[1]['task_id']}-0"
    assert set(records) == {f"{tasks[0]['task_id']}-0", cls_id, gen_id}
    assert records[cls_id].fields[s.FIELD_OUTPUT] == "negative"
    assert records[cls_id].fields[s.FIELD_LABELS] == "positive\nnegative"
    assert records[cls_id].metadata[s.M_IS_CLASSIFICATION] == "true"
    assert records[cls_id].metadata[s.M_ROUGE_L_MAX] == pytest.approx(0.25)
    assert records[gen_id].fields.get(s.FIELD_INPUT) in (None, "")  # optional field left out
    suggestion = records[cls_id].suggestions[s.Q_IS_CLASSIFICATION]
    assert (suggestion.value, suggestion.score) == (YES, pytest.approx(0.91))
    assert records[gen_id].suggestions[s.Q_INPUT_APPROPRIATE].value == NA


def test_repush_creates_no_duplicates(argilla_server, client, dataset_name) -> None:
    tasks = [make_classification_task(i) for i in range(3)]
    first = push(argilla_server, client, dataset_name, tasks, batch_size=4)
    again = push(argilla_server, client, dataset_name, tasks, batch_size=4)
    assert (first.created, first.updated) == (6, 0)
    assert (again.created, again.updated) == (0, 6)
    assert len(server_records(client, dataset_name, argilla_server.workspace)) == 6

    # A corrected run (new output, new model name) updates in place.
    changed = make_classification_task(0, model_name="other-model")
    changed["instances"][1]["output"] = "positive"
    update = push(argilla_server, client, dataset_name, [changed])
    assert (update.created, update.updated) == (0, 2)
    records = {r.id: r for r in server_records(client, dataset_name, argilla_server.workspace)}
    assert len(records) == 6
    assert records[f"{changed['task_id']}-1"].fields[s.FIELD_OUTPUT] == "positive"
    assert records[f"{changed['task_id']}-1"].metadata[s.M_MODEL] == "other-model"


def submit(client, name: str, workspace: str, plan: dict[str, list[tuple]]) -> None:
    """Submits responses through the SDK: plan maps record id -> [(user, status, values)].

    Records are fetched first and logged back whole: re-logging a record by id
    replaces its fields and metadata.
    """
    import argilla as rg

    dataset = client.datasets(name=name, workspace=workspace)
    records = [r for r in dataset.records(with_responses=True) if r.id in plan]
    for record in records:
        for user, status, values in plan[record.id]:
            for question, value in values.items():
                record.responses.add(rg.Response(question, value, user_id=user.id, status=status))
    dataset.records.log(records)


def answers(instruction=YES, input_=YES, output=YES, **extra) -> dict:
    return {
        s.Q_INSTRUCTION_VALID: instruction,
        s.Q_INPUT_APPROPRIATE: input_,
        s.Q_OUTPUT_ACCEPTABLE: output,
        **extra,
    }


def test_two_reviewers_round_trip(argilla_server, client, dataset_name, annotator) -> None:
    a = make_classification_task(0)  # approved + corrected instance
    b = make_task(1)  # reviewers split on the output -> rejected
    c = make_task(2, instances=[{"input": "", "output": "x"}, {"input": "y", "output": "z"}])
    d = make_task(3)  # only a draft -> unreviewed
    e = make_task(4, instances=[{"input": "6*7", "output": "41"}])  # corrected by the annotator
    tasks = [a, b, c, d, e]
    push(argilla_server, client, dataset_name, tasks)
    owner = client.me
    submitted = "submitted"
    plan = {
        f"{a['task_id']}-0": [
            (owner, submitted, answers(**{s.Q_LABEL_CORRECT: YES})),
            (annotator, submitted, answers(**{s.Q_LABEL_CORRECT: YES})),
        ],
        f"{a['task_id']}-1": [
            (owner, submitted, answers(output=NO, **{s.Q_OUTPUT_CORRECTED: "positive"})),
            (annotator, submitted, answers()),
        ],
        f"{b['task_id']}-0": [
            (owner, submitted, answers(input_=NA)),
            (annotator, submitted, answers(input_=NA, output=NO)),
        ],
        f"{c['task_id']}-0": [
            (owner, submitted, answers(instruction=NO, input_=NA)),
            (annotator, submitted, answers(instruction=NO, input_=NA)),
        ],
        f"{d['task_id']}-0": [(annotator, "draft", {s.Q_INSTRUCTION_VALID: YES})],
        f"{e['task_id']}-0": [
            (annotator, submitted, answers(output=NO, **{s.Q_OUTPUT_CORRECTED: "42"})),
        ],
    }
    submit(client, dataset_name, argilla_server.workspace, plan)

    records = pull_reviews(dataset_name, argilla_server.workspace, client=client)
    assert len(records) == 7
    result = curate(records)
    by_id = {t["task_id"]: t for t in result.tasks}
    assert sorted(by_id) == sorted([a["task_id"], e["task_id"]])
    assert by_id[a["task_id"]]["instances"] == [
        {"input": "I love this phone.", "output": "positive"},
        {"input": "Battery died after a day.", "output": "positive"},
    ]
    assert by_id[a["task_id"]]["review"]["reviewers"] == sorted([str(owner.id), str(annotator.id)])
    assert by_id[e["task_id"]]["instances"] == [{"input": "6*7", "output": "42"}]
    assert result.rows == [
        {
            "instruction": t["instruction"],
            "input": inst["input"],
            "output": inst["output"],
            "task_id": t["task_id"],
            "instance_index": inst["instance_index"],
            "is_classification": t["is_classification"],
            "review_status": inst["review_status"],
        }
        for t in result.tasks
        for inst in t["review"]["instances"]
    ]
    summary = result.summary
    assert {
        k: summary[k] for k in ("records", "reviewed", "approved", "corrected", "rejected")
    } == {
        "records": 7,
        "reviewed": 5,
        "approved": 1,
        "corrected": 2,
        "rejected": 3,  # b-0 (split output) and both records of c (invalid instruction)
    }
    assert summary["reviewers"] == 2
    assert summary["rejected_by_reason"] == {"instruction": 2, "input": 0, "output": 1}
    assert summary["tasks"] == {
        "total": 5,
        "reviewed": 4,
        "kept": 2,
        "dropped_invalid_instruction": 1,
        "dropped_no_instances": 1,
        "unreviewed_excluded": 1,
    }
    assert summary["agreement"][s.Q_OUTPUT_ACCEPTABLE] == {
        "records": 4,
        "pairwise_agreement": 0.5,
        "unanimous": 0.5,
    }
    assert summary["agreement"][s.Q_INSTRUCTION_VALID]["pairwise_agreement"] == 1.0

    included = curate(records, include_unreviewed=True)
    assert sorted(t["task_id"] for t in included.tasks) == sorted(
        [a["task_id"], d["task_id"], e["task_id"]]
    )

    # Re-pushing the same tasks after the review keeps the reviews.
    again = push(argilla_server, client, dataset_name, tasks)
    assert again.created == 0
    after = curate(pull_reviews(dataset_name, argilla_server.workspace, client=client))
    assert after.tasks == result.tasks
    assert after.summary == result.summary


def test_wrong_api_key_is_one_line(argilla_server, dataset_name, capsys, tmp_path: Path) -> None:
    wrong = f"wrong-{uuid.uuid4().hex}"
    with pytest.raises(ReviewServerError) as info:
        push_tasks(
            [make_task(0)], dataset_name, argilla_server.workspace, argilla_server.api_url, wrong
        )
    message = str(info.value)
    assert "rejected the API key" in message and "\n" not in message and wrong not in message
    assert not info.value.transient

    path = tmp_path / "tasks.jsonl"
    path.write_text(json.dumps(make_task(0)) + "\n")
    argv = ["push", "--input", str(path), "--dataset", dataset_name]
    argv += ["--api-url", argilla_server.api_url, "--api-key", wrong]
    assert cli.main(argv) == cli.EXIT_SERVER
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "rejected the API key" in err and wrong not in err


def test_unknown_workspace_and_dataset_are_one_line(argilla_server, client, dataset_name) -> None:
    with pytest.raises(ReviewServerError, match="workspace 'no-such-ws' not found"):
        push_tasks([make_task(0)], dataset_name, "no-such-ws", client=client)
    with pytest.raises(ReviewServerError, match=f"dataset '{dataset_name}' not found"):
        pull_reviews(dataset_name, argilla_server.workspace, client=client)


def test_cli_push_then_pull(argilla_server, dataset_name, tmp_path: Path, capsys) -> None:
    path = tmp_path / "official.jsonl"
    tasks = [make_classification_task(0), make_task(1)]
    path.write_text("".join(json.dumps(t) + "\n" for t in tasks))
    server = ["--dataset", dataset_name, "--workspace", argilla_server.workspace]
    server += ["--api-url", argilla_server.api_url, "--api-key", argilla_server.api_key]
    assert cli.main(["push", "--input", str(path), *server]) == 0
    assert "3 created, 0 updated" in capsys.readouterr().out
    assert cli.main(["push", "--input", str(path), *server]) == 0
    assert "0 created, 3 updated" in capsys.readouterr().out

    out = tmp_path / "curated"
    assert cli.main(["pull", *server, "--output", str(out), "--include-unreviewed"]) == 0
    assert "0/3 records reviewed" in capsys.readouterr().out
    curated = [json.loads(line) for line in (out / "curated.jsonl").read_text().splitlines()]
    assert sorted((t["id"], t["instances"]) for t in curated) == sorted(
        (t["task_id"], t["instances"]) for t in tasks
    )
    assert len(json.loads((out / "alpaca.json").read_text())) == 3
    assert (out / "hf").is_dir()


def test_pipeline_pushes(
    argilla_server, client, dataset_name, tmp_path, monkeypatch, restore_logging
) -> None:
    from distilabel.pipeline import Pipeline
    from distilabel.steps import LoadDataFromDicts

    from distilabel_selfinstruct.argilla.step import SelfInstructToArgilla

    monkeypatch.setenv("DISTILABEL_CACHE_DIR", str(tmp_path / "distilabel"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    tasks = [make_classification_task(i) if i % 2 else make_task(i) for i in range(7)]
    with Pipeline(name=f"si-argilla-{uuid.uuid4().hex[:8]}") as pipeline:
        load = LoadDataFromDicts(data=tasks, batch_size=3)
        to_argilla = SelfInstructToArgilla(
            dataset_name=dataset_name,
            dataset_workspace=argilla_server.workspace,
            api_url=argilla_server.api_url,
            api_key=argilla_server.api_key,
            batch_size=2,
            input_batch_size=3,
        )
        load >> to_argilla
    distiset = pipeline.run(use_cache=False)

    rows = distiset["default"]["train"].to_list()
    assert sorted(r["task_id"] for r in rows) == sorted(t["task_id"] for t in tasks)
    assert {r["task_id"]: r["instances"] for r in rows} == {
        t["task_id"]: t["instances"] for t in tasks
    }
    records = server_records(client, dataset_name, argilla_server.workspace)
    assert len(records) == sum(len(t["instances"]) for t in tasks) == 10


def test_push_throughput(argilla_server, client, dataset_name) -> None:
    """~1000 records; the rate is reported in docs/argilla.md."""
    tasks = [make_classification_task(i) for i in range(500)]
    started = time.perf_counter()
    result = push(argilla_server, client, dataset_name, tasks, batch_size=500)
    seconds = time.perf_counter() - started
    assert (result.records_sent, result.created) == (1000, 1000)
    print(f"\npush throughput: {1000 / seconds:.0f} records/s ({seconds:.1f}s for 1000 records)")


def test_the_judges_ratings_meet_the_reviewers_and_pull_says_how_often_they_agree(
    argilla_server, dataset_name, annotator, client, tmp_path: Path, capsys
) -> None:
    instances = [{"input": f"{k} + 1", "output": str(k + 1)} for k in range(3)]
    judged = make_task(
        0,
        instances=instances,
        judgements=[
            {"rating": "A", "rationale": "Correct."},
            {"rating": "D", "rationale": "Unrelated."},
            None,  # the judge's reply said nothing about it
        ],
        judge_model="judge-model",
    )
    path = tmp_path / "official.jsonl"
    path.write_text(json.dumps(judged) + "\n")
    server = ["--dataset", dataset_name, "--workspace", argilla_server.workspace]
    server += ["--api-url", argilla_server.api_url, "--api-key", argilla_server.api_key]
    assert cli.main(["push", "--input", str(path), *server]) == 0
    capsys.readouterr()

    records = {r.id: r for r in server_records(client, dataset_name, argilla_server.workspace)}
    first, second, third = (records[f"{judged['task_id']}-{k}"] for k in range(3))
    assert first.metadata[s.M_JUDGE_RATING] == "A"
    assert first.fields[s.FIELD_JUDGE_RATIONALE] == "A: Correct."
    assert third.fields.get(s.FIELD_JUDGE_RATIONALE) in (None, "")
    rating = first.suggestions[s.Q_QUALITY_RATING]
    assert (rating.value, rating.score, rating.agent) == (
        "A",
        pytest.approx(0.9),
        "judge:judge-model",
    )
    acceptable = second.suggestions[s.Q_OUTPUT_ACCEPTABLE]
    assert (acceptable.value, acceptable.score) == (NO, pytest.approx(0.9))
    assert s.M_JUDGE_RATING not in third.metadata
    assert s.Q_QUALITY_RATING not in {sg.question_name for sg in third.suggestions}

    # Two reviewers: the owner agrees with the judge on both records, the annotator on
    # the first only (it finds the D output acceptable and rates it B).
    owner = client.me
    plan = {
        first.id: [
            (owner, "submitted", answers(**{s.Q_QUALITY_RATING: "A"})),
            (annotator, "submitted", answers(**{s.Q_QUALITY_RATING: "A"})),
        ],
        second.id: [
            (owner, "submitted", answers(output=NO, **{s.Q_QUALITY_RATING: "D"})),
            (annotator, "submitted", answers(**{s.Q_QUALITY_RATING: "B"})),
        ],
        third.id: [(owner, "submitted", answers())],
    }
    submit(client, dataset_name, argilla_server.workspace, plan)

    out = tmp_path / "curated"
    assert cli.main(["pull", *server, "--output", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "reviewers agreed with the LLM judge on 75% of 8 answers over 2 records" in printed
    summary = json.loads((out / "summary.json").read_text())["judge_agreement"]
    assert summary["per_question"] == {
        s.Q_OUTPUT_ACCEPTABLE: {"answers": 4, "agreement": 0.75},
        s.Q_QUALITY_RATING: {"answers": 4, "agreement": 0.75},
    }
    assert summary["acceptable_by_rating"] == {"A": 1.0, "D": 0.5}
