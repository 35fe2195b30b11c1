"""The vit task's record: ImageNet-1k classification with a ViT, top-1 / top-5 accuracy."""
from tasks.registry import Metric, TaskRecord

RECORD = TaskRecord(
    name="vit",
    task_class="tasks.vit.task:ViTTask",
    family="vit",
    make_tiny="tasks.vit.make_tiny",
    prepare="tasks.vit.prepare",
    depth_fields=("layers",),
    sections={"images": "tasks.vit.config:ImagesConfig"},
    metrics=(Metric("top1", "top1", "%", higher_is_better=True),
             Metric("top5", "top5", "%", higher_is_better=True),
             Metric("valid_loss", "valid_loss", "nats", higher_is_better=False)),
    description="ImageNet-1k ViT: DeiT recipe (timm's data pipeline) and sigma-reparam's vision recipe",
)
