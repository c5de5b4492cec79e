"""(c) Our filters in a pipeline built from distilabel's own tasks.

EvolInstruct rewrites seed instructions into harder ones; many come out near-duplicates of
each other or need a picture. Here our keyword/length filter and exact ROUGE-L novelty
filter clean its output before anyone reviews it.

    python examples/filter_evol_instruct.py                      # scripted LLM, no model
    python examples/filter_evol_instruct.py --llama-cpp          # the default gemma-3-270m
"""

import sys

from distilabel.pipeline import Pipeline
from distilabel.steps import KeepColumns, LoadDataFromDicts
from distilabel.steps.tasks import EvolInstruct

from distilabel_selfinstruct.filters.instruction_filters import FilterInstructions
from distilabel_selfinstruct.filters.rouge import RougeLFilter
from distilabel_selfinstruct.seeds import bundled_seed_path, load_seed_tasks


def make_llm():
    if "--llama-cpp" in sys.argv:
        from distilabel_selfinstruct.llms import LlamaCppCompletionLLM

        return LlamaCppCompletionLLM()
    from distilabel_selfinstruct.testing import ScriptedLLM

    # Stands in for a model so the example runs anywhere: a novel rewrite, a task that needs
    # a picture, and repeats of the first.
    return ScriptedLLM(
        replies={
            "Prompt": [
                "Explain, with one worked example, why the sky looks blue at noon.",
                "Draw a picture of a bridge and label its parts.",
                "Explain, with one worked example, why the sky looks blue at noon today.",
            ]
        }
    )


if __name__ == "__main__":
    seeds = load_seed_tasks(bundled_seed_path())[:10]
    with Pipeline(name="evol-instruct-filtered") as pipeline:
        load = LoadDataFromDicts(data=[{"instruction": seed.instruction} for seed in seeds])
        evolve = EvolInstruct(llm=make_llm(), num_evolutions=1, store_evolutions=False)
        rename = KeepColumns(columns=["evolved_instruction"])
        heuristics = FilterInstructions(
            input_mappings={"instruction": "evolved_instruction"},
        )
        novelty = RougeLFilter(
            instruction_column="evolved_instruction",
            reference_path=["bundled"],  # compare with the bundled seeds too
        )
        load >> evolve >> rename >> heuristics >> novelty
    distiset = pipeline.run(use_cache=False)
    rows = distiset["default"]["train"]
    print(f"{len(rows)} evolved instructions kept of {len(seeds)}")
    for row in rows:
        print(f"  {row['rouge_l_max']:.2f}  {row['evolved_instruction']}")
