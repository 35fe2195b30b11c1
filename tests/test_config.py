"""The run config is typed and closed: errors name the key, round trips are exact."""
import pytest
import yaml

from tasks.config import CHOICES, ConfigError, RunConfig
from tasks.registry import TASKS

FULL = {
    "run_id": "translation/iwslt14_de_en/transformer_iwslt_de_en-6L-6L/post_ln/admin_recipe/seed1",
    "scale": "tiny", "task": "translation", "seed": 1,
    "data": {"dir": "results/tiny/data/iwslt14_de_en", "workers": 0, "prefetch": 2},
    "batching": {"max_tokens": 4096, "max_sentences": 0, "max_positions": 1024},
    "model": {"family": "translation", "size": "transformer_iwslt_de_en", "encoder_scheme": "post_ln",
              "decoder_scheme": "post_ln", "share": "all", "overrides": {"encoder_layers": 6, "dropout": 0.3},
              "omega": None},
    "optim": {"name": "radam", "lr": 7.0e-4, "betas": [0.9, 0.98], "eps": 1.0e-8, "weight_decay": 1.0e-4,
              "momentum": 0.0, "nesterov": False, "trust_coef": 0.001, "clip_norm": 0.0,
              "no_decay": ["bias", "norm", "gamma", "omega"], "decay_all": True},
    "schedule": {"name": "inverse_sqrt", "warmup_updates": 6000, "warmup_init_lr": 1.0e-7, "min_lr": 0.0,
                 "total_updates": 0, "step_epochs": [], "step_gamma": 0.1, "then": "none"},
    "loss": {"name": "label_smoothed_ce", "label_smoothing": 0.1, "smoothing_over": "all"},
    "train": {"max_updates": 100000, "max_epochs": 0, "update_freq": 1, "precision": "auto", "log_every": 100,
              "checkpoint_every": 1000, "keep_epoch_checkpoints": 10, "avg_last": 10,
              "validate_every_epochs": 1, "tensorboard": False},
    "divergence": {"loss_bound": 1.0e4, "patience": 5, "explode_factor": 4.0, "chance_after": 0,
                   "chance_margin": 0.05, "judge_after": 0.5, "progress_window": 0.5, "progress_margin": 0.01,
                   "progress_level": 0.5},
    "probes": {"every": 0, "entropy": True, "spectral": True, "grad_norms": False, "update_norms": False,
               "omega": True, "dependency": False},
    "eval": {"beam": 5, "lenpen": 1.0, "max_len_a": 0.0, "max_len_b": 200,
             "bleu_lowercase": False, "compound_split": False, "batch_sentences": 128, "split": "test"},
}


def with_key(path, value):
    d = yaml.safe_load(yaml.safe_dump(FULL))
    section, _, key = path.rpartition(".")
    (d[section] if section else d)[key] = value
    return d


def test_the_documented_example_round_trips():
    cfg = RunConfig.from_dict(FULL)
    assert cfg.optim.betas == (0.9, 0.98) and cfg.schedule.step_epochs == ()
    assert cfg.to_dict() == FULL, "update FULL (and docs/ARCHITECTURE.md) with the new config fields"
    assert RunConfig.from_dict(cfg.to_dict()) == cfg


def test_dump_and_load_round_trip_atomically(tmp_path):
    cfg = RunConfig.from_dict(FULL)
    path = tmp_path / "run" / "config.yaml"
    cfg.dump(path)
    assert RunConfig.load(path) == cfg
    assert [p.name for p in path.parent.iterdir()] == ["config.yaml"]  # no temp file left behind


@pytest.mark.parametrize("path,value,needle", [
    ("optim.lrr", 1.0, "optim.lrr: unknown key; expected one of"),
    ("nonsense", 1, "nonsense: unknown key"),
    ("optim.lr", "fast", "optim.lr: expected float, got str"),
    ("train.max_updates", 10.5, "train.max_updates: expected int, got float"),
    ("train.tensorboard", 1, "train.tensorboard: expected bool, got int"),
    ("seed", True, "seed: expected int, got bool"),
    ("optim.betas", [0.9], "optim.betas: expected a list of 2 numbers"),
    ("optim.betas", [0.9, "x"], "optim.betas[1]: expected float, got str"),
    ("model.encoder_scheme", "post_lnn", "model.encoder_scheme: unknown scheme 'post_lnn'"),
    ("model.decoder_scheme", "rezero", "model.decoder_scheme: unknown scheme 'rezero'"),
    ("optim.name", "lamb", "optim.name: 'lamb' is not one of"),
    ("task", "chess", "task: unknown task 'chess'"),
    ("train.update_freq", 0, "train.update_freq: expected a positive number"),
    ("data", 5, "data: expected a mapping, got int"),
])
def test_bad_values_name_the_key(path, value, needle):
    with pytest.raises(ConfigError) as e:
        RunConfig.from_dict(with_key(path, value))
    assert needle in str(e.value)


def test_ints_are_accepted_where_floats_are_expected():
    cfg = RunConfig.from_dict(with_key("optim.lr", 1))
    assert cfg.optim.lr == 1.0 and isinstance(cfg.optim.lr, float)


def test_yaml_exponent_without_dot_is_a_float(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(FULL).replace("lr: 0.0007", "lr: 7e-4"))
    assert "7e-4" in path.read_text()
    assert RunConfig.load(path).optim.lr == pytest.approx(7e-4)


def test_load_names_the_file(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(with_key("optim.lrr", 1.0)))
    with pytest.raises(ConfigError, match=r"c.yaml: optim.lrr: unknown key"):
        RunConfig.load(path)
    with pytest.raises(ConfigError, match="run config not found"):
        RunConfig.load(tmp_path / "missing.yaml")


def test_replace_validates():
    cfg = RunConfig.from_dict(FULL)
    assert cfg.replace(optim={"lr": 0.5}).optim.lr == 0.5
    assert cfg.replace(optim={"lr": 0.5}).optim.name == "radam"
    with pytest.raises(ConfigError, match="optim.bogus"):
        cfg.replace(optim={"bogus": 1})


def test_every_choice_and_task_is_accepted():
    for path, choices in CHOICES.items():
        for c in choices:
            RunConfig.from_dict(with_key(path, c))
    for name in TASKS:  # every task's own sections build from their defaults
        cfg = RunConfig.from_dict({"task": name})
        assert set(cfg.to_dict()) >= set(cfg.sections)
        assert RunConfig.from_dict(cfg.to_dict()) == cfg


def test_a_section_of_another_task_is_refused_naming_the_task():
    with pytest.raises(ConfigError, match="eval: unknown key.*task 'toy'"):
        RunConfig.from_dict({"task": "toy", "eval": {"beam": 5}})
    assert RunConfig.from_dict(FULL).eval.beam == 5  # translation's own section, read as an attribute


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_numbers_are_refused_at_load(value, tmp_path):
    with pytest.raises(ConfigError, match="optim.lr: expected a finite number"):
        RunConfig.from_dict(with_key("optim.lr", value))
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(FULL).replace("lr: 0.0007", "lr: .nan"))
    with pytest.raises(ConfigError, match="c.yaml: optim.lr: expected a finite number"):
        RunConfig.load(path)


def test_a_task_section_checks_its_own_values():
    with pytest.raises(ConfigError, match="batching.max_tokens: expected a positive number"):
        RunConfig.from_dict(with_key("batching.max_tokens", 0))
