"""The translation task's record: IWSLT'14 De-En, WMT'14 En-De and En-Fr, BLEU."""
from tasks.registry import Metric, TaskRecord

RECORD = TaskRecord(
    name="translation",
    task_class="tasks.translation.task:TranslationTask",
    family="translation",
    make_tiny="tasks.translation.make_tiny",
    prepare="tasks.translation.prepare",
    depth_fields=("encoder_layers", "decoder_layers"),
    sections={"batching": "tasks.engine.batching:TokenBatching",
              "eval": "tasks.translation.config:TranslationEval"},
    metrics=(Metric("BLEU", "bleu", "BLEU", higher_is_better=True),
             Metric("sacreBLEU", "sacrebleu", "BLEU", higher_is_better=True),
             Metric("valid_loss", "valid_loss", "nats", higher_is_better=False)),
    description="encoder-decoder translation with fairseq's data conventions; tokenised BLEU and sacreBLEU",
)
