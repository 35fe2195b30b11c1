"""The vit task through the engine: batches, augmentation seeding, loss, a short training run."""
import json
import math

import numpy as np
import pytest
import torch

from tasks.config import RunConfig
from tasks.registry import build_task
from tasks.vit.make_tiny import generate
from tasks.vit.prepare import prepare


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("vit")
    generate("tiny", root / "raw", seed=1)
    prepare(root / "raw", root / "data", check=False, log=lambda *_: None)
    return str(root / "data")


def config(data_dir, **over):
    d = {"task": "vit", "seed": 3, "data": {"dir": data_dir, "workers": 0},
         "model": {"family": "vit", "size": "vit_tiny", "encoder_scheme": "pre_ln", "overrides": {"drop_path": 0.1}},
         "optim": {"name": "adamw", "lr": 1e-3, "betas": [0.9, 0.999], "weight_decay": 0.05,
                   "no_decay": ["bias", "norm", "pos_embed", "cls_token", "gamma"]},
         "schedule": {"name": "cosine", "warmup_updates": 3, "warmup_init_lr": 1e-6, "min_lr": 1e-5},
         "loss": {"name": "label_smoothed_ce", "label_smoothing": 0.1, "smoothing_over": "all"},
         "train": {"max_updates": 20, "max_epochs": 0, "log_every": 10, "checkpoint_every": 1000,
                   "keep_epoch_checkpoints": 1, "validate_every_epochs": 100, "precision": "fp32"},
         "probes": {"every": 10, "entropy": True, "spectral": False},
         # 20 updates are too few for the failure detector's chance/progress rules to be fair
         "divergence": {"chance_margin": 0.0, "progress_window": 0.0},
         "images": {"batch_size": 16, "eval_batch_size": 64}}
    for k, v in over.items():
        d[k] = {**d.get(k, {}), **v} if isinstance(v, dict) else v
    return RunConfig.from_dict(d)


def test_epoch_batches_repeat_each_image_three_times(data_dir):
    task = build_task(config(data_dir))
    b1 = task.epoch_batches(1)
    assert [a.tolist() for a in b1] == [a.tolist() for a in build_task(config(data_dir)).epoch_batches(1)]
    assert [a.tolist() for a in b1] != [a.tolist() for a in task.epoch_batches(2)]
    flat = np.concatenate(b1)
    assert len(b1) == 480 // 16 and len(flat) == 480  # RASampler: N samples per epoch
    _, counts = np.unique(flat, return_counts=True)
    assert set(counts.tolist()) == {3} and len(counts) == 160


def test_build_batch_is_a_function_of_seed_epoch_indices(data_dir):
    task = build_task(config(data_dir))
    idx = task.epoch_batches(1)[0]
    torch.manual_seed(123)
    a = task.build_batch(idx, 1)
    torch.manual_seed(456)
    np.random.seed(9)
    b = task.build_batch(idx, 1)
    c = task.build_batch(idx, 2)
    assert torch.equal(a["net_input"]["images"], b["net_input"]["images"]) and torch.equal(a["target"], b["target"])
    assert not torch.equal(a["net_input"]["images"], c["net_input"]["images"])
    x = a["net_input"]["images"]
    assert x.shape == (16, 3, 32, 32) and a["target"].shape == (16, 10)
    torch.testing.assert_close(a["target"].sum(1), torch.ones(16))
    assert a["target"].min() >= 0.1 / 10 - 1e-6  # smoothing floor eps/C
    # the copies of one image (repeated augmentation) are augmented independently
    i, j = next((i, j) for i in range(16) for j in range(i + 1, 16) if idx[i] == idx[j])
    assert not torch.equal(x[i], x[j])


def test_loss_nll_recovers_the_unsmoothed_mixed_targets(data_dir):
    task = build_task(config(data_dir))
    torch.manual_seed(0)
    model = task.build_model().eval()  # no drop path: two forwards agree
    batch = task.build_batch(task.epoch_batches(1)[0], 1)
    loss, logs = task.loss(model, batch)
    logp = torch.log_softmax(model(**batch["net_input"]).float(), -1)
    mixed = (batch["target"] - 0.01) / 0.9
    torch.testing.assert_close(logs["nll_sum"], -(mixed * logp).sum(), rtol=1e-5, atol=1e-4)
    assert logs["units"] == 16 and abs(loss.item() / 16 - math.log(10)) < 0.5
    assert task.chance_loss == pytest.approx(math.log(10))


def test_short_training_run_end_to_end(data_dir, tmp_path):
    from tasks.engine.loop import train

    cfg = config(data_dir, model={"encoder_scheme": "sigma_reparam"})
    assert train(cfg, tmp_path) == 0
    status = json.loads((tmp_path / "status.json").read_text())
    ev = json.loads((tmp_path / "eval.json").read_text())
    assert status["status"] == "ok" and status["step"] == 20
    assert 0.0 <= ev["top1"] <= 100.0 and ev["top5"] >= ev["top1"] and ev["n_images"] == 120
    recs = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    probes = [r for r in recs if r["kind"] == "probe"]
    assert [p["step"] for p in probes] == [0, 10, 20]
    assert len(probes[-1]["entropy"]) == 2  # both layers of vit_tiny
    train_loss = [r["loss"] for r in recs if r["kind"] == "train"]
    assert len(train_loss) == 2 and all(math.isfinite(v) for v in train_loss)


def test_probe_batch_is_fixed_and_trains(data_dir):
    # the probes and Admin profiling (forward + backward through task.loss) use this batch
    task = build_task(config(data_dir, model={"encoder_scheme": "admin"}))
    a, b = task.probe_batch(), task.probe_batch()
    assert torch.equal(a["net_input"]["images"], b["net_input"]["images"])
    model = task.build_model()
    loss, logs = task.loss(model, a)
    loss.backward()
    assert logs["units"] == 32 and math.isfinite(loss.item())
