"""The bootstrap loop's owner: what the loop's steps share and the one rule that ends it.

- `stages`: the stages and drop reasons every step, report and test names.
- `stop`: `StopRule`, consulted by the generator, the pool's gate and the commit step.
- `run`: `BootstrapRun`, the one object `build_pipeline` hands every loop step (where the
  pool lives, the target, the seeds, the stop rule's settings), and `LoopStep`, the base
  that makes a step without it fail at load.

Nothing here imports the steps; the steps import this.
"""
