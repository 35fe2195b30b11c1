"""tasks.resolve: every run of every table resolves to a valid closed config at every scale."""
import pytest
import yaml

from catalog.experiment import run_ids
from experiments.registry import ids as table_ids
from experiments.registry import spec as load_table
from tasks.config import RunConfig
from tasks.registry import record
from catalog.words import SCALES
from tasks.resolve import ResolveError, main, resolve, scale_steps
from catalog.runid import RunId, parse_arch

RID = "translation/iwslt14_de_en/transformer_iwslt_de_en-6L-6L/{scheme}/{variant}/seed1"


def all_run_ids(scale):
    out = set()
    for t in table_ids():
        spec = load_table(t)
        out |= set(run_ids(spec, scale)) | set(run_ids(spec, scale, key="study_runs"))
    return sorted(out)


@pytest.mark.parametrize("scale", SCALES)
def test_every_table_run_resolves_and_validates(scale):
    rids = all_run_ids(scale)
    assert rids, "the tables declare no runs"
    for rid in rids:
        cfg = RunConfig.from_dict(resolve(scale, rid))
        assert cfg.run_id == rid and cfg.scale == scale
        r = RunId.parse(rid)
        assert cfg.data.dir == f"results/{scale}/data/{r.dataset}"
        size, depths = parse_arch(r.arch)
        fields = record(r.task).depth_fields
        fields = fields[cfg.model.family] if isinstance(fields, dict) else fields
        assert cfg.model.size == size
        assert tuple(cfg.model.overrides[f] for f in fields) == depths


def test_paper_scale_keeps_the_recipe():
    cfg = resolve("paper", RID.format(scheme="post_ln", variant="admin_iwslt"))
    assert cfg["optim"]["name"] == "radam" and cfg["optim"]["lr"] == 7.0e-4
    assert cfg["schedule"]["warmup_updates"] == 6000 and cfg["train"]["max_updates"] == 100000
    assert cfg["model"]["overrides"]["dropout"] == 0.3 and cfg["eval"]["bleu_lowercase"] is True


def test_tiny_scale_shrinks_steps_and_width_but_keeps_depth():
    cfg = resolve("tiny", "translation/wmt14_en_fr/transformer_wmt_en_de-60L-12L/pre_ln/admin_wmt_enfr_deep/seed1111")
    assert cfg["train"]["max_updates"] <= 40 and cfg["model"]["overrides"]["embed_dim"] == 64
    assert cfg["model"]["overrides"]["encoder_layers"] == 60 and cfg["model"]["overrides"]["decoder_layers"] == 12


def test_steps_scale_consistently_with_floors_and_zero_stays_off():
    rec = {"train": {"max_updates": 100000, "max_epochs": 50}, "probes": {"every": 100},
           "schedule": {"warmup_updates": 4000, "step_epochs": [8, 16]}}
    out = scale_steps(rec, {"steps_factor": 0.5, "floors": {"max_updates": 1}})
    assert out["train"] == {"max_updates": 50000, "max_epochs": 25}
    assert out["schedule"] == {"warmup_updates": 2000, "step_epochs": [4, 8]} and out["probes"]["every"] == 50
    zero = scale_steps({"schedule": {"warmup_updates": 0}}, {"steps_factor": 0.001, "floors": {"warmup_updates": 1}})
    assert zero["schedule"]["warmup_updates"] == 0
    floored = scale_steps({"schedule": {"warmup_updates": 500}}, {"steps_factor": 0.0001, "floors": {"warmup_updates": 3}})
    assert floored["schedule"]["warmup_updates"] == 3


def test_variant_overrides_the_recipe():
    cfg = resolve("paper", RID.format(scheme="post_ln", variant="xiong_adam_wu500_lr1e-3"))
    assert cfg["optim"]["lr"] == 1.0e-3 and cfg["schedule"]["warmup_updates"] == 500
    pre = resolve("paper", RID.format(scheme="pre_ln", variant="xiong_preln_nowu_step8"))
    assert pre["schedule"]["name"] == "step" and pre["schedule"]["step_epochs"] == [8]


def test_admin_and_mixed_schemes():
    admin = resolve("tiny", RID.format(scheme="admin", variant="admin_iwslt"), results="out")
    assert admin["model"]["omega"] == f"out/tiny/runs/{RID.format(scheme='admin', variant='admin_iwslt')}/omega.json"
    mixed = resolve("tiny", RID.format(scheme="post_ln+pre_ln", variant="admin_iwslt"))
    assert (mixed["model"]["encoder_scheme"], mixed["model"]["decoder_scheme"]) == ("post_ln", "pre_ln")
    assert mixed["model"]["omega"] is None


@pytest.mark.parametrize("rid, words", [
    (RID.format(scheme="post_ln", variant="no_such_variant"), ["unknown variant", "no_such_variant"]),
    (RID.format(scheme="fancy_ln", variant="admin_iwslt"), ["unknown scheme", "fancy_ln"]),
    ("translation/iwslt14_de_en/transformer_iwslt_de_en-6L-6L/post_ln/admin_iwslt", ["malformed run id"]),
    ("translation/iwslt14_de_en/transformer-six/post_ln/admin_iwslt/seed1", ["malformed arch"]),
    # checked when the config is resolved, not when a job starts: depth shape, size, override
    ("translation/iwslt14_de_en/transformer_iwslt_de_en-6L/post_ln/admin_iwslt/seed1",
     ["expects <size>-<encoder_layers>L-<decoder_layers>L", "got 1 depth"]),
    ("translation/iwslt14_de_en/transformer_huge-6L-6L/post_ln/admin_iwslt/seed1",
     ["unknown translation size 'transformer_huge'", "transformer_iwslt_de_en"]),
    ("toy/toy_markov/tiny-2L-2L/pre_ln/admin_iwslt/seed1", ["task 'toy' (family toy) expects <size>-<layers>L"]),
    ("translation/toy_markov/transformer_iwslt_de_en-6L-6L/pre_ln/admin_iwslt/seed1", ["dataset 'toy_markov' belongs to task 'toy'"]),
    ("chess/iwslt14_de_en/transformer_iwslt_de_en-6L-6L/pre_ln/admin_iwslt/seed1", ["unknown task 'chess'"]),
])
def test_bad_run_ids_fail_clearly(rid, words):
    with pytest.raises(ResolveError) as e:
        resolve("tiny", rid)
    assert all(w in str(e.value) for w in words)


def test_a_vit_only_scheme_fails_at_resolve_for_another_family():
    with pytest.raises(ResolveError, match=r"family translation.*scheme 'weight_norm_pre_ln' sets weight_norm, "
                                           r"which only the vit model family implements"):
        resolve("tiny", RID.format(scheme="weight_norm_pre_ln", variant="admin_iwslt"))


def test_an_override_that_is_not_a_size_field_fails_at_resolve(monkeypatch):
    import tasks.resolve as r

    real = r.variant_config
    monkeypatch.setattr(r, "variant_config", lambda name: {**real(name), "model": {"overrides": {"depth": 3}}})
    with pytest.raises(ResolveError, match=r"unknown translation size override\(s\) \['depth'\]; valid keys"):
        resolve("tiny", RID.format(scheme="post_ln", variant="admin_iwslt"))


def test_cli_writes_a_loadable_config(tmp_path, capsys):
    out = tmp_path / "run" / "config.yaml"
    assert main(["--scale", "tiny", "--run", RID.format(scheme="pre_ln", variant="admin_iwslt"), "--out", str(out)]) == 0
    assert RunConfig.load(out).model.encoder_scheme == "pre_ln"
    assert yaml.safe_load(out.read_text())["seed"] == 1
    assert main(["--scale", "tiny", "--run", RID.format(scheme="pre_ln", variant="nope"), "--out", str(out)]) == 2
    assert "unknown variant 'nope'" in capsys.readouterr().err
