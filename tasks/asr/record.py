"""The asr task's record: LibriSpeech letter CTC, greedy WER/CER on the four evaluation sets."""
from tasks.registry import Metric, TaskRecord

_EVAL = (("dev_clean", "dev-clean"), ("dev_other", "dev-other"), ("test_clean", "test-clean"),
         ("test_other", "test-other"))

RECORD = TaskRecord(
    name="asr",
    task_class="tasks.asr.task:ASRTask",
    family="asr",
    make_tiny="tasks.asr.make_tiny",
    prepare="tasks.asr.prepare",
    depth_fields=("layers",),
    sections={"audio": "tasks.asr.config:AudioConfig",
              "specaugment": "tasks.asr.config:SpecAugmentConfig",
              "decode": "tasks.asr.config:DecodeConfig"},
    metrics=tuple(Metric(f"WER {split}", f"{key}.wer", "%", higher_is_better=False) for key, split in _EVAL)
    + tuple(Metric(f"CER {split}", f"{key}.cer", "%", higher_is_better=False) for key, split in _EVAL)
    + (Metric("valid_loss", "valid_loss", "nats", higher_is_better=False),),
    description="LibriSpeech letter CTC (80 log-mel, SpecAugment), WER and CER with jiwer",
)
