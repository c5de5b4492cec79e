"""Data files shipped in the wheel: the bundled seed set (`seed_tasks.jsonl`)."""
