"""What a model is trained on and how it is scored, and the one training loop.

`tasks.config` holds the closed run config, `tasks.registry.TASKS` names the tasks,
`tasks.train` is the training entry point and `tasks.engine` the loop's parts
(optimizers, schedules, losses, batching, checkpoints, logging).
"""
