"""The vit task: ImageNet-1k in its real layouts, DeiT / sigma-reparam recipes (see record.py)."""
