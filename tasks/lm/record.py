"""The lm task's record: WikiText-103 / WikiText-2 language modelling, perplexity with a context window."""
from tasks.registry import Metric, TaskRecord

RECORD = TaskRecord(
    name="lm",
    task_class="tasks.lm.task:LMTask",
    family="lm",
    make_tiny="tasks.lm.make_tiny",
    prepare="tasks.lm.prepare",
    depth_fields=("layers",),
    sections={"lm": "tasks.lm.config:LMData"},
    metrics=(Metric("valid_ppl", "valid.ppl", "ppl", higher_is_better=False),
             Metric("test_ppl", "test.ppl", "ppl", higher_is_better=False),
             Metric("test_nats", "test.nats", "nats", higher_is_better=False)),
    description="decoder-only LM on the word-level WikiText release with fairseq's data conventions; "
                "perplexity as fairseq-eval-lm with a context window",
)
