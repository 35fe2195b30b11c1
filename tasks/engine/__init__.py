"""Parts of the one training loop: optimizers, schedules, losses, batching, checkpoints,
logging, divergence detection, probes and devices. `tasks.engine.loop.train` runs it."""
