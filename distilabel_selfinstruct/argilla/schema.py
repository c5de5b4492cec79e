"""Argilla dataset settings for the human review of Self-Instruct tasks.

One Argilla record is one *instance* (input/output pair) of a Self-Instruct task;
the instances of a task are grouped by the `task_id` metadata. The questions are
the three quality questions of the Self-Instruct paper (Wang et al. 2022, §4.2
"Quality"), plus a corrected output, a task-type check and a label check for
classification tasks.

`argilla` is imported inside functions only: importing it reads environment
variables and building settings objects without an explicit client silently
creates (and connects) a default client.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argilla as rg

# Field names (what the reviewer reads).
FIELD_INSTRUCTION = "instruction"
FIELD_INPUT = "input"
FIELD_OUTPUT = "output"
FIELD_LABELS = "labels"
FIELD_SIMILAR = "most_similar_instruction"
FIELD_JUDGE_RATIONALE = "judge_rationale"

# Question names (what the reviewer answers).
Q_INSTRUCTION_VALID = "instruction_valid"
Q_INPUT_APPROPRIATE = "input_appropriate"
Q_OUTPUT_ACCEPTABLE = "output_acceptable"
Q_OUTPUT_CORRECTED = "output_corrected"
Q_IS_CLASSIFICATION = "is_classification_task"
Q_LABEL_CORRECT = "label_correct"
# The paper's review scale, A-D (the LLM judge suggests it when the run had one).
Q_QUALITY_RATING = "quality_rating"
JUDGE_RATINGS = {
    "A": "A: valid and satisfying",
    "B": "B: acceptable, minor imperfections",
    "C": "C: responds, but significant errors",
    "D": "D: irrelevant or invalid",
}

YES, NO, NOT_APPLICABLE = "yes", "no", "not_applicable"
YES_NO = {YES: "Yes", NO: "No"}
YES_NO_NA = {YES: "Yes", NO: "No", NOT_APPLICABLE: "Not applicable"}

# Metadata property names (what the reviewer filters and sorts by).
M_TASK_ID = "task_id"
M_INSTANCE_INDEX = "instance_index"
M_IS_CLASSIFICATION = "is_classification"
M_CLASSIFICATION_SCORE = "classification_score"
M_ROUGE_L_MAX = "rouge_l_max"
M_MOST_SIMILAR_TASK_ID = "most_similar_task_id"
M_BOOTSTRAP_ROUND = "bootstrap_round"
M_MODEL = "model"
M_INSTRUCTION_WORDS = "instruction_words"
M_INPUT_WORDS = "input_words"
M_OUTPUT_WORDS = "output_words"
M_JUDGE_RATING = "judge_rating"

BOOL_TERMS = ["true", "false"]
UNKNOWN_MODEL = "unknown"

# Everything `pull` needs to rebuild a task must exist in a reused dataset.
REQUIRED_FIELDS = (FIELD_INSTRUCTION, FIELD_INPUT, FIELD_OUTPUT)
REQUIRED_QUESTIONS = (
    Q_INSTRUCTION_VALID,
    Q_INPUT_APPROPRIATE,
    Q_OUTPUT_ACCEPTABLE,
    Q_OUTPUT_CORRECTED,
)
REQUIRED_METADATA = (M_TASK_ID, M_INSTANCE_INDEX, M_MODEL)

GUIDELINES = """\
# Reviewing Self-Instruct tasks

Each record is **one instance** (an input/output pair) of a machine-generated task.
All instances of a task share the `task_id` metadata: filter on it to see a whole
task. The questions follow the quality review of the Self-Instruct paper
(Wang et al. 2022, section 4.2).

## Questions

1. **Does the instruction describe a valid task?** (`instruction_valid`, yes/no)
   *Yes* if a competent person could understand what to do and the task is
   feasible for a text-only model. *No* for nonsense, unanswerable, unsafe or
   underspecified instructions. Judge the instruction only, not this instance.
   Unless *Yes* outnumbers *No* over all the task's records, **the whole task**
   is removed.
2. **Is the input appropriate for the instruction?** (`input_appropriate`,
   yes/no/not applicable) *Yes* if the input is a sensible instance of the
   task. *Not applicable* when the task needs no input and the input is empty.
   *No* removes this instance (the input cannot be corrected here).
3. **Is the output a correct and acceptable response to the instruction and
   input?** (`output_acceptable`, yes/no) *Yes* if you would accept it as a
   training target, even if imperfect. For classification tasks the output is
   the class label. When reviewers split evenly, the instance is removed.
4. **Corrected output** (`output_corrected`, optional) If the output is wrong
   but the task and input are fine, write the correct output here. A
   correction replaces the output in the curated dataset. Leave it empty
   otherwise.
5. **Is this a classification task?** (`is_classification_task`, optional,
   yes/no) Pre-filled from the model's prediction (the suggestion score is the
   model's confidence). A classification task has a small, fixed set of
   possible outputs (the label set shown in `labels`).
6. **Is the label correct?** (`label_correct`, optional, yes/no/not applicable)
   Classification tasks only: *Yes* if the output is the right label from the
   label set. Pre-filled *Not applicable* for tasks the model judged
   non-classification.
7. **Rate the instance** (`quality_rating`, optional, A/B/C/D) The Self-Instruct
   paper's scale: *A* valid and satisfying; *B* acceptable with minor
   imperfections; *C* responds to the instruction but has significant errors;
   *D* irrelevant or invalid. When the run had an LLM judge, its rating is
   pre-filled here (and its yes/no reading on question 3): correct it where you
   disagree, so `selfinstruct pull` can say how far the judge can be trusted.

Only **submitted** answers count; drafts and discarded records are treated as
not reviewed. With several reviewers, a check passes only if its *Yes* answers
outnumber its *No* answers.

## Context shown with each record

- `labels`: the label set generated for classification tasks (one per line).
- `judge_rationale`: the LLM judge's rating and its one-sentence reason, when the run
  had a judge (its suggestion on `quality_rating` and `output_acceptable`).
- `most_similar_instruction`: the closest instruction already in the pool; its
  ROUGE-L similarity is the `rouge_l_max` metadata. Near-duplicates are not
  valid *new* tasks.

Metadata you can filter and sort by: task id, instance index, task type and
model confidence, ROUGE-L to the pool, bootstrap round, generating model,
word counts and the LLM judge's rating (`judge_rating`).
"""


def build_settings(
    client: rg.Argilla,
    models: Iterable[str] | None = None,
    min_submitted: int = 1,
    guidelines: str = GUIDELINES,
) -> rg.Settings:
    """Builds the settings of a Self-Instruct review dataset.

    Args:
        client: the client every settings property is bound to (without it the
            SDK creates and connects a default client from the environment).
        models: None (the default) leaves the `model` terms metadata open: any
            model name is accepted and still filterable. A list declares the
            allowed names instead; Argilla 2.8 cannot add options to an existing
            terms property (PATCH ignores them), so a closed list makes later
            pushes from any other model fail.
        min_submitted: submitted responses needed to complete a record; set it
            to 2 or more to collect several reviews per record for agreement.
        guidelines: markdown guidelines shown to reviewers.

    Returns:
        The `rg.Settings`, not yet attached to any dataset.
    """
    import argilla as rg

    model_options = None if models is None else sorted({m for m in models if m} | {UNKNOWN_MODEL})
    fields = [
        rg.TextField(name=FIELD_INSTRUCTION, title="Instruction", client=client),
        rg.TextField(
            name=FIELD_INPUT,
            title="Input (may be empty)",
            required=False,
            client=client,
        ),
        rg.TextField(name=FIELD_OUTPUT, title="Output", client=client),
        rg.TextField(
            name=FIELD_LABELS,
            title="Label set (classification tasks, one per line)",
            required=False,
            client=client,
        ),
        rg.TextField(
            name=FIELD_SIMILAR,
            title="Most similar instruction already in the pool",
            required=False,
            client=client,
        ),
        rg.TextField(
            name=FIELD_JUDGE_RATIONALE,
            title="The LLM judge's rating and reason (when the run had a judge)",
            required=False,
            client=client,
        ),
    ]
    questions = [
        rg.LabelQuestion(
            name=Q_INSTRUCTION_VALID,
            title="Does the instruction describe a valid task?",
            labels=YES_NO,
            client=client,
        ),
        rg.LabelQuestion(
            name=Q_INPUT_APPROPRIATE,
            title="Is the input appropriate for the instruction?",
            labels=YES_NO_NA,
            client=client,
        ),
        rg.LabelQuestion(
            name=Q_OUTPUT_ACCEPTABLE,
            title="Is the output a correct and acceptable response to the instruction and input?",
            labels=YES_NO,
            client=client,
        ),
        rg.TextQuestion(
            name=Q_OUTPUT_CORRECTED,
            title="Corrected output (only if the output is wrong)",
            required=False,
            client=client,
        ),
        rg.LabelQuestion(
            name=Q_IS_CLASSIFICATION,
            title="Is this a classification task?",
            labels=YES_NO,
            required=False,
            client=client,
        ),
        rg.LabelQuestion(
            name=Q_LABEL_CORRECT,
            title="Classification tasks: is the label correct?",
            labels=YES_NO_NA,
            required=False,
            client=client,
        ),
        rg.LabelQuestion(
            name=Q_QUALITY_RATING,
            title="Rate the instance (the paper's scale)",
            labels=JUDGE_RATINGS,
            required=False,
            client=client,
        ),
    ]
    metadata = [
        # Open terms (no options): any task id is accepted and is filterable,
        # which is how the records of one task are grouped in the UI.
        rg.TermsMetadataProperty(name=M_TASK_ID, title="Task id", client=client),
        rg.IntegerMetadataProperty(
            name=M_INSTANCE_INDEX, title="Instance index", min=0, client=client
        ),
        rg.TermsMetadataProperty(
            name=M_IS_CLASSIFICATION,
            title="Classification task",
            options=BOOL_TERMS,
            client=client,
        ),
        rg.FloatMetadataProperty(
            name=M_CLASSIFICATION_SCORE,
            title="P(classification)",
            min=0.0,
            max=1.0,
            client=client,
        ),
        rg.FloatMetadataProperty(
            name=M_ROUGE_L_MAX,
            title="Max ROUGE-L to pool",
            min=0.0,
            max=1.0,
            client=client,
        ),
        rg.TermsMetadataProperty(
            name=M_MOST_SIMILAR_TASK_ID, title="Most similar task id", client=client
        ),
        rg.IntegerMetadataProperty(
            name=M_BOOTSTRAP_ROUND, title="Bootstrap round", min=0, client=client
        ),
        rg.TermsMetadataProperty(name=M_MODEL, title="Model", options=model_options, client=client),
        rg.IntegerMetadataProperty(
            name=M_INSTRUCTION_WORDS, title="Instruction words", min=0, client=client
        ),
        rg.IntegerMetadataProperty(name=M_INPUT_WORDS, title="Input words", min=0, client=client),
        rg.IntegerMetadataProperty(name=M_OUTPUT_WORDS, title="Output words", min=0, client=client),
        rg.TermsMetadataProperty(
            name=M_JUDGE_RATING,
            title="LLM judge rating",
            options=list(JUDGE_RATINGS),
            client=client,
        ),
    ]
    return rg.Settings(
        fields=fields,
        questions=questions,
        metadata=metadata,
        guidelines=guidelines,
        allow_extra_metadata=False,
        distribution=rg.TaskDistribution(min_submitted=min_submitted),
    )


def missing_schema_parts(
    field_names: Iterable[str],
    question_names: Iterable[str],
    metadata_names: Iterable[str],
) -> list[str]:
    """Names a reused dataset lacks to be read back as Self-Instruct reviews."""
    present = set(field_names) | set(question_names) | set(metadata_names)
    return [
        name
        for name in (*REQUIRED_FIELDS, *REQUIRED_QUESTIONS, *REQUIRED_METADATA)
        if name not in present
    ]
