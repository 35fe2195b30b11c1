"""The toy task's record: a noisy-Markov-chain corpus for tests, benches and tiny LM claims."""
from tasks.registry import Metric, TaskRecord

RECORD = TaskRecord(
    name="toy",
    task_class="tasks.toy.task:ToyTask",
    family="toy",  # or the recipe's model.family: lm | translation (models/)
    make_tiny="tasks.toy.make_tiny",
    prepare="tasks.toy.prepare",
    depth_fields={"toy": ("layers",), "lm": ("layers",), "translation": ("encoder_layers", "decoder_layers")},
    sections={"batching": "tasks.engine.batching:TokenBatching"},
    sizes="tasks.toy.sizes:resolve_toy_size",
    metrics=(Metric("valid_loss", "valid_loss", "nats", higher_is_better=False),
             Metric("valid_accuracy", "valid_accuracy", "fraction", higher_is_better=True)),
    description="noisy Markov-chain sequences (synthetic; the same generator at every scale)",
)
