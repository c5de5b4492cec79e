"""(b) The same bootstrap on any OpenAI-compatible server (vLLM, llama.cpp server, TGI, ...).

    OPENAI_API_KEY=... python examples/run_openai_compatible.py http://localhost:8000/v1 MODEL

Instruction-tuned models get the `chat` prompt style (chosen automatically for non-llama.cpp
LLMs). The API key is read from the environment at load time and never written to YAML.
"""

import sys

from distilabel.models.llms import OpenAILLM

from distilabel_selfinstruct.pipeline import build_pipeline

if __name__ == "__main__":
    base_url, model = sys.argv[1], sys.argv[2]
    llm = OpenAILLM(base_url=base_url, model=model)
    pipeline = build_pipeline(
        llm=llm,
        num_instructions=200,
        output_dir="selfinstruct-openai-out",
        batch_size=8,
        # Uncomment to push finished tasks to Argilla for review (ARGILLA_API_URL/KEY):
        # argilla={"dataset_name": "self-instruct-review"},
    )
    # Sampling parameters are runtime parameters, tunable per LLM stage:
    pipeline.run(
        use_cache=False,  # rerunning resumes from the pool store in output_dir
        parameters={
            "generate_instructions": {"llm": {"generation_kwargs": {"temperature": 0.7}}},
        },
    )
