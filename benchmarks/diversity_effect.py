"""The effect of diverse demonstrations, topic steering and the semantic filter on the
instructions the default model writes, at the same budget of instruction prompts.

    .venv/bin/python -m benchmarks.diversity_effect --prompts 60 \
        --configs baseline diverse topics diverse+topics diverse+topics+semantic

Each configuration runs the loop's instruction half in-process on the embedded default
model (gemma-3-270m, llama.cpp): sample demonstrations from the pool, generate, split, the
paper's filters, ROUGE-L (and the semantic filter), admission; the accepted instructions
become demonstrations of the next rounds, as in a run. Instances are not generated: every
figure here is about the instructions (acceptance rate, distinct leading verbs, type-token
ratio, mean pairwise ROUGE-L of the accepted set), and instance generation would triple the
time. Same seed, same prompts budget; a config differs only in its options.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from distilabel_selfinstruct.admission import AdmitToPool
from distilabel_selfinstruct.bootstrap.run import BootstrapRun
from distilabel_selfinstruct.filters.instruction_filters import FilterInstructions
from distilabel_selfinstruct.filters.rouge import RougeLFilter
from distilabel_selfinstruct.instructions import GenerateInstructions, SplitInstructions
from distilabel_selfinstruct.llms import LlamaCppCompletionLLM
from distilabel_selfinstruct.pool import open_pool_store
from distilabel_selfinstruct.report.statistics import diversity
from distilabel_selfinstruct.sampling import SampleDemonstrations

TOPICS = Path(__file__).resolve().parent.parent / "examples" / "topics.txt"
BATCH = 4


def run_config(name: str, prompts: int, seed: int, llm: LlamaCppCompletionLLM) -> dict[str, Any]:
    options = set(name.split("+"))
    directory = Path(tempfile.mkdtemp(prefix=f"diversity-{name}-"))
    run = BootstrapRun(pool_path=str(directory / "pool.sqlite"), num_instructions=100_000)
    sample = SampleDemonstrations(
        run=run,
        batch_size=BATCH,
        random_seed=seed,
        demonstration_sampling="diverse" if "diverse" in options else "random",
        topics_path=str(TOPICS) if "topics" in options else None,
    )
    generate = GenerateInstructions(llm=llm, prompt_style="completion")
    steps: list[Any] = [
        SplitInstructions(run=run),
        FilterInstructions(run=run),
        RougeLFilter(run=run),
    ]
    if "semantic" in options:
        from distilabel_selfinstruct.embeddings import MiniLMEmbeddings
        from distilabel_selfinstruct.filters.semantic import SemanticDedup

        steps.append(SemanticDedup(run=run, embeddings=MiniLMEmbeddings()))
    steps.append(AdmitToPool(run=run))
    for step in (sample, generate, *steps):
        step.load()
    started = time.perf_counter()
    for round_number in range(prompts // BATCH):
        rows = sample.build_round(round_number)
        rows = next(generate.process(rows))
        for step in steps:
            rows = next(step.process(rows))
    seconds = time.perf_counter() - started
    with open_pool_store(run.pool_path) as store:
        machine = store.tasks("machine")
        drops = store.drop_counts()
        topics = store.topic_counts()
    generated = len(machine) + sum(n for (stage, _), n in drops.items() if stage != "generation")
    accepted = [task["instruction"] for task in machine]
    stats = diversity(accepted)
    return {
        "config": name,
        "prompts": prompts,
        "seconds": round(seconds, 1),
        "candidates": generated,
        "accepted": len(accepted),
        "acceptance_rate": round(len(accepted) / generated, 3) if generated else None,
        "distinct_leading_verbs": stats["distinct_leading_verbs"],
        "type_token_ratio": round(stats["type_token_ratio"] or 0, 3),
        "type_token_ratio_500": stats["type_token_ratio_500"],
        "mean_pairwise_rouge_l": stats["pairwise"]["mean"],
        "topics_covered": len(topics),
        "drops": {f"{stage}/{reason}": n for (stage, reason), n in sorted(drops.items())},
        "top_verbs": dict(Counter(stats["top_leading_verbs"]).most_common(8)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=60)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--configs",
        nargs="+",
        default=["baseline", "diverse", "topics", "diverse+topics", "diverse+topics+semantic"],
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    llm = LlamaCppCompletionLLM()
    results = []
    for name in args.configs:
        result = run_config(name, args.prompts, args.seed, llm)
        print(json.dumps(result), flush=True)
        results.append(result)
    print(
        "\n| config | candidates | accepted | acceptance | distinct verbs | TTR | TTR (500)"
        " | mean pairwise ROUGE-L | topics | seconds |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in results:
        ttr500 = f"{r['type_token_ratio_500']:.3f}" if r["type_token_ratio_500"] else "-"
        print(
            f"| {r['config']} | {r['candidates']} | {r['accepted']} | {r['acceptance_rate']:.0%}"
            f" | {r['distinct_leading_verbs']} | {r['type_token_ratio']:.3f} | {ttr500}"
            f" | {r['mean_pairwise_rouge_l']:.3f} | {r['topics_covered']} | {r['seconds']:.0f} |"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
