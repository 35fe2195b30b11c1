"""The asr task end to end on generated speech: batching, SpecAugment schedule, CTC loss, training."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from tasks.asr import make_tiny, prepare
from tasks.config import RunConfig
from tasks.registry import build_task


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("asr")
    make_tiny.write(root / "raw", "tiny", "tree")
    prepare.prepare("librispeech", root / "raw", root / "data", workers=1)
    return root / "data"


def config(data_dir, **over) -> RunConfig:
    d = {"task": "asr", "seed": 3, "data": {"dir": str(data_dir)},
         "model": {"family": "asr", "size": "asr_tiny", "encoder_scheme": "pre_ln"},
         "optim": {"name": "adam", "lr": 2e-3, "clip_norm": 1.0},
         "schedule": {"name": "constant", "warmup_updates": 10},
         "loss": {"name": "ctc", "label_smoothing": 0.0},
         "train": {"max_updates": 60, "log_every": 10, "checkpoint_every": 1000, "precision": "fp32"},
         "audio": {"max_frames": 3000}, "specaugment": {"start_update": 30, "time_masks": 2}}
    for k, v in over.items():
        d[k] = {**d.get(k, {}), **v} if isinstance(v, dict) else v
    return RunConfig.from_dict(d)


def test_batches_are_a_function_of_seed_and_epoch(data_dir):
    task = build_task(config(data_dir))
    e1, e1b, e2 = task.epoch_batches(1), task.epoch_batches(1), task.epoch_batches(2)
    assert all(np.array_equal(a, b) for a, b in zip(e1, e1b))
    assert sorted(map(tuple, e1)) == sorted(map(tuple, e2)) and any(
        not np.array_equal(a, b) for a, b in zip(e1, e2))
    frames = [task.parts[0].frames[task.local[b]] for b in e1]
    assert all(len(f) * f.max() <= 3000 for f in frames)  # padded frames within the budget
    assert sorted(np.concatenate(e1).tolist()) == list(range(len(task.local)))  # every utterance once


def test_spec_augment_starts_at_its_update_and_is_seeded(data_dir):
    task = build_task(config(data_dir))
    n = len(task.batches)
    # epoch 1 batch 0 is update 0 (clean); an epoch far enough on is past start_update 30
    late = 30 // n + 2
    b = task.epoch_batches(1)[0]
    clean = task.build_batch(b, 1)["net_input"]["feats"]
    stored = torch.from_numpy(np.asarray(task.parts[0].feats(int(task.local[b[0]])), dtype=np.float32))
    assert torch.equal(clean[0, :len(stored)], stored)
    bl = task.epoch_batches(late)[0]
    assert task.batch_update(bl, late) >= 30
    x1, x2 = task.build_batch(bl, late), task.build_batch(bl, late)
    assert torch.equal(x1["net_input"]["feats"], x2["net_input"]["feats"])  # same (seed, epoch, indices)
    plain = task.parts[0].collate(task.local[bl])["net_input"]["feats"]
    assert not torch.equal(x1["net_input"]["feats"], plain)
    assert torch.equal(x1["target"], task.parts[0].collate(task.local[bl])["target"])


def test_ctc_loss_units_and_chance_level(data_dir):
    task = build_task(config(data_dir))
    torch.manual_seed(0)
    model = task.build_model()
    batch = task.build_batch(task.epoch_batches(1)[0], 1)
    loss, logs = task.loss(model, batch)
    assert logs["units"] == int(batch["target_lengths"].sum())  # units = target letters
    per_letter = float(loss.detach()) / logs["units"]
    assert math.isfinite(per_letter)
    # the prior (blank + letter frequencies) is below the uniform prediction and above 0
    assert 0.5 < task.chance_loss < math.log(29)
    loss.backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


def test_short_training_learns_and_writes_wer_per_split(data_dir, tmp_path):
    from tasks.engine.loop import train

    cfg = config(data_dir)
    assert train(cfg, tmp_path / "run") == 0
    status = json.loads((tmp_path / "run/status.json").read_text())
    ev = json.loads((tmp_path / "run/eval.json").read_text())
    assert status["status"] == "ok"
    for split in ("dev_clean", "dev_other", "test_clean", "test_other"):
        assert 0.0 <= ev[split]["wer"] and 0.0 <= ev[split]["cer"] and ev[split]["utterances"] == 30
    assert (tmp_path / "run/hyp.dev-clean.txt").read_text().count("\n") == 30
    rows = [json.loads(line) for line in open(tmp_path / "run/metrics.jsonl")]
    losses = [r["loss"] for r in rows if r["kind"] == "train"]
    assert losses[-1] < 0.8 * task_chance(cfg), losses  # left the blank/prior plateau
    assert ev["dev_clean"]["cer"] < 90.0


def task_chance(cfg) -> float:
    return build_task(cfg).chance_loss


def test_sigma_speech_model_reparametrises_blocks_and_head_not_the_conv_front_end():
    from models import build_model
    from models.sigma_reparam import SigmaReparamLinear

    m = build_model("asr", "asr_sigma_36x768", encoder_scheme="sigma_reparam_post_ln", vocab=29,
                    embed_dim=64, mlp_dim=128, layers=2)
    assert type(m.conv) is torch.nn.Conv1d  # the front-end stays a plain convolution
    bound = math.sqrt(3.0 / (80 * 7))  # lecun_uniform
    w = m.conv.weight.detach().abs().max().item()
    assert 0.9 * bound < w <= bound
    linears = [mod for mod in m.encoder.modules() if isinstance(mod, SigmaReparamLinear)]
    assert len(linears) == 5 * 2 and isinstance(m.head, SigmaReparamLinear)  # [Q;K], V, out, fc1, fc2 per block
    qk = m.encoder.layers[0].self_attn.fn.attn.qk_proj
    assert tuple(qk.weight.shape) == (128, 64) and qk.bias is None  # one joint [Q;K] projection, no bias
    assert abs(m.encoder.layers[0].ffn.fn.fc1.weight.detach().std().item() - 0.1) < 0.01  # std init 0.1
    assert not any(type(mod) is torch.nn.Linear for mod in m.encoder.modules())
    assert all(p.item() == 1.0 for n, p in m.named_parameters() if n.endswith("gamma"))  # gamma init 1
