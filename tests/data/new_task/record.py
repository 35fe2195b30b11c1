"""A throwaway task used by tests/test_new_task_is_one_folder.py (copied into tasks/dummy/)."""
from tasks.registry import Metric, TaskRecord

RECORD = TaskRecord(
    name="dummy",
    task_class="tasks.dummy.task:DummyTask",
    family="mlp",
    make_tiny="tasks.dummy.make_tiny",
    prepare="tasks.dummy.prepare",
    depth_fields=("layers",),
    sections={"points": "tasks.dummy.task:PointsConfig"},
    sizes="tasks.dummy.task:resolve_mlp_size",
    metrics=(Metric("accuracy", "accuracy", "fraction", higher_is_better=True),),
)
