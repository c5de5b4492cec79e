"""Where a candidate can leave the run, and why: one vocabulary for steps, store and reports.

Every drop the pool store records is a `(Stage, Reason)` pair. Steps record them, the stop
rule counts losses by stage, and the summary, exports and tests read them back by these
names, so a stage or reason is spelled in exactly one place.
"""

from __future__ import annotations

from enum import Enum


class _Code(str, Enum):
    """A `str` whose text is its value (what SQLite, JSON and f-strings see)."""

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)


class Stage(_Code):
    """The step that dropped a row."""

    GENERATION = "generation"  # a reply that yielded no candidate
    INSTRUCTION_FILTERS = "instruction_filters"  # the paper's heuristics
    ROUGE_L = "rouge_l"  # novelty scoring against the pool
    SEMANTIC = "semantic"  # embedding near-duplicates of a pool task (optional)
    ADMISSION = "admission"  # the pool's gate (stop rule, duplicates)
    INSTANCES = "instances"  # a task left without usable instances
    INSTANCE_FILTERS = "instance_filters"  # one instance of a task (the task may live on)
    JUDGE = "judge"  # the LLM judge's threshold: an instance, or a task left with none
    COMMIT = "commit"  # a finished task the run no longer needs or cannot use


# Every parsed candidate is accepted into the pool or dropped at one of these stages.
CANDIDATE_STAGES: frozenset[Stage] = frozenset(
    {Stage.INSTRUCTION_FILTERS, Stage.ROUGE_L, Stage.SEMANTIC, Stage.ADMISSION}
)
# After the pool accepted a task: a drop here is an accepted task that will not finish.
POST_ACCEPT_STAGES: frozenset[Stage] = frozenset({Stage.INSTANCES, Stage.JUDGE, Stage.COMMIT})


class Reason(_Code):
    """Why a row was dropped; each reason belongs to the stage(s) named beside it."""

    # generation
    UNPARSEABLE_REPLY = "unparseable_reply"
    # generation, instances: the LLM request failed after its retries (streamed requests)
    LLM_REQUEST_FAILED = "llm_request_failed"
    # instruction_filters
    EMPTY = "empty"
    TOO_SHORT = "too_short"
    TOO_LONG = "too_long"
    BLACKLISTED_KEYWORD = "blacklisted_keyword"
    STARTS_WITH_PUNCTUATION = "starts_with_punctuation"
    STARTS_NON_ASCII = "starts_non_ascii"
    WRITE_A_PROGRAM = "write_a_program"
    MARKUP = "markup"  # also instance_filters
    # rouge_l
    ROUGE_L_TOO_SIMILAR = "rouge_l_too_similar"
    # semantic
    SEMANTIC_TOO_SIMILAR = "semantic_too_similar"
    SEMANTIC_UNSCORED = "semantic_unscored"  # its batch failed in SemanticDedup
    # admission
    ENOUGH_IN_FLIGHT = "enough_in_flight"
    TARGET_REACHED = "target_reached"  # also commit
    DUPLICATE_INSTRUCTION = "duplicate_instruction"
    # instance_filters
    EMPTY_OUTPUT = "empty_output"
    INPUT_EQUALS_OUTPUT = "input_equals_output"
    ENDS_WITH_COLON = "ends_with_colon"
    LABEL_NOT_IN_SET = "label_not_in_set"
    DUPLICATE = "duplicate"
    CONFLICTING_OUTPUTS = "conflicting_outputs"
    OVER_LIMIT = "over_limit"
    TOO_FEW_LABELS = "too_few_labels"
    # instance_filters, degenerate text (filters.degenerate)
    REPEATED_TEXT = "repeated_text"
    RUNS_ON = "runs_on"
    RESTATES_INSTRUCTION = "restates_instruction"
    IMPLAUSIBLE_LABELS = "implausible_labels"
    # judge
    JUDGE_RATING = "judge_rating"
    # instances, judge
    NO_VALID_INSTANCES = "no_valid_instances"
    NO_INSTANCES_PARSED = "no_instances_parsed"
    # commit
    NOT_ACCEPTED = "not_accepted"
