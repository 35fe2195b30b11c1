"""The closed, typed run config (docs/ARCHITECTURE.md "Run config").

`tasks.resolve` writes it, `tasks.train` reads it. Every section is a frozen dataclass;
`RunConfig.from_dict` fails on unknown keys, wrong types, unknown schemes and unknown
choices with a message that names the full key path (e.g. "optim.lrr"). Missing keys take
the defaults below. Ints are accepted where floats are expected; bools are never numbers.
"""
from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import yaml

from common.io import Loader, atomic_write_bytes, atomic_write_text  # noqa: F401 (re-exported)


class ConfigError(ValueError):
    """A run config that does not match the schema; the message names the key."""


@dataclass(frozen=True)
class DataConfig:
    dir: str = ""  # the prepared data directory (python -m tasks.<task>.prepare)
    workers: int = 0  # DataLoader worker processes building batches (0: in the training process)
    prefetch: int = 2  # batches prepared ahead per worker


@dataclass(frozen=True)
class ModelConfig:
    family: str = ""  # empty: the task record's family
    size: str = ""
    encoder_scheme: str = "post_ln"
    decoder_scheme: Optional[str] = None  # None: same as the encoder / no decoder
    share: Optional[str] = None
    overrides: dict = field(default_factory=dict)
    omega: Optional[str] = None  # path to omega.json, or "admin_torch:O(logn)"


@dataclass(frozen=True)
class OptimConfig:
    name: str = "adam"  # adam|adamw|radam|sgd|nag|lars|adagrad
    lr: float = 5.0e-4
    betas: tuple[float, float] = (0.9, 0.98)
    eps: float = 1.0e-8
    weight_decay: float = 0.0
    momentum: float = 0.0
    nesterov: bool = False
    trust_coef: float = 0.001
    clip_norm: float = 0.0
    no_decay: tuple[str, ...] = ("bias", "norm", "gamma", "omega")
    decay_all: bool = False  # True: decay every parameter, no_decay ignored (fairseq, TC)


@dataclass(frozen=True)
class ScheduleConfig:
    name: str = "inverse_sqrt"  # constant|inverse_sqrt|linear|cosine|step
    warmup_updates: int = 4000
    warmup_init_lr: float = 0.0
    min_lr: float = 0.0
    total_updates: int = 0  # horizon of linear/cosine; 0 = train.max_updates
    step_epochs: tuple[int, ...] = ()
    step_gamma: float = 0.1
    then: str = "none"  # none|inverse_sqrt (after the last step decay, Xiong sec. 4)


@dataclass(frozen=True)
class LossConfig:
    name: str = "label_smoothed_ce"  # label_smoothed_ce|ce|ctc
    label_smoothing: float = 0.1
    smoothing_over: str = "others"  # others: eps/(V-1) (fairseq 0.12) | all: eps/V (TC, torch, timm)


@dataclass(frozen=True)
class TrainConfig:
    max_updates: int = 100000
    max_epochs: int = 0  # 0 = no epoch limit
    update_freq: int = 1
    precision: str = "auto"  # auto|fp32|bf16
    log_every: int = 100
    checkpoint_every: int = 1000
    keep_epoch_checkpoints: int = 10
    avg_last: int = 1  # final weights: the average of the last N epoch checkpoints (1 = last weights)
    validate_every_epochs: int = 1
    tensorboard: bool = False


@dataclass(frozen=True)
class DivergenceConfig:
    """Failure detection (tasks/engine/divergence.py). Defaults are relative to the run (its
    planned updates P, its warm-up, log V), so that one setting serves 20-update tiny runs and
    100k-update paper runs."""
    loss_bound: float = 1.0e4  # absolute ceiling on the logged train loss (nats)
    patience: int = 5  # consecutive log steps above the bound (or the run's last log step)
    explode_factor: float = 4.0  # exploding: loss > explode_factor * chance loss (0 = loss_bound only)
    chance_after: int = 0  # > 0: also a one-shot "left chance by update N" check
    chance_margin: float = 0.05  # "at chance": nll >= (1 - chance_margin) * log V
    judge_after: float = 0.5  # chance / no-progress rules judged from max(warm-up, judge_after * P)
    progress_window: float = 0.5  # ... over a window of progress_window * P updates (0 = off)
    progress_margin: float = 0.01  # flat: best nll improved by less than this fraction over the window
    progress_level: float = 0.5  # no progress counts while nll >= progress_level * log V


@dataclass(frozen=True)
class ProbesConfig:
    every: int = 0  # 0 = probes off
    entropy: bool = True
    spectral: bool = True
    grad_norms: bool = False
    update_norms: bool = False
    omega: bool = True
    dependency: bool = False


# Closed choices; a value outside them fails naming the key.
CHOICES = {
    "optim.name": ("adam", "adamw", "radam", "sgd", "nag", "lars", "adagrad"),
    "schedule.name": ("constant", "inverse_sqrt", "linear", "cosine", "step"),
    "schedule.then": ("none", "inverse_sqrt"),
    "loss.name": ("label_smoothed_ce", "ce", "ctc"),
    "loss.smoothing_over": ("others", "all"),
    "train.precision": ("auto", "fp32", "bf16"),
}
POSITIVE = ("train.update_freq", "train.log_every", "train.checkpoint_every",
            "train.validate_every_epochs", "divergence.patience", "train.avg_last")
NON_NEGATIVE = ("seed", "train.max_updates", "train.max_epochs", "train.keep_epoch_checkpoints",
                "schedule.warmup_updates", "schedule.total_updates", "probes.every", "data.workers",
                "data.prefetch", "optim.lr", "optim.weight_decay", "optim.clip_norm", "loss.label_smoothing")
CORE = ("task", "run_id", "scale", "seed", "data", "model", "optim", "schedule", "loss", "train",
        "divergence", "probes")


@dataclass(frozen=True)
class RunConfig:
    """The core sections every task shares, plus the task's own sections (its record's
    `sections`), read as attributes, e.g. `cfg.batching.max_tokens`. `task` is required: a
    config names the task it trains."""
    task: str
    run_id: str = ""
    scale: str = "tiny"
    seed: int = 1
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    divergence: DivergenceConfig = field(default_factory=DivergenceConfig)
    probes: ProbesConfig = field(default_factory=ProbesConfig)
    sections: dict = field(default_factory=dict)  # the task's own sections: name -> frozen dataclass

    def __getattr__(self, name: str):
        sections = self.__dict__.get("sections") or {}
        if name in sections:
            return sections[name]
        raise AttributeError(f"run config of task {self.__dict__.get('task')!r} has no section {name!r}; "
                             f"it has {list(CORE[4:]) + sorted(sections)}")

    @classmethod
    def from_dict(cls, d: dict) -> "RunConfig":
        """Build and validate a config from a plain dict (as read from YAML)."""
        if not isinstance(d, dict):
            raise ConfigError(f"config: expected a mapping of sections, got {type(d).__name__}")
        if "task" not in d:
            from tasks.registry import TASKS

            raise ConfigError(f"task: missing; expected one of {sorted(TASKS)}")
        task = d["task"]
        own = _task_sections(task)
        unknown = [k for k in d if k not in CORE and k not in own]
        if unknown:
            raise ConfigError(f"{unknown[0]}: unknown key; expected one of {list(CORE) + sorted(own)} "
                              f"(the core sections and those of task {task!r})")
        core = _build(cls, {k: v for k, v in d.items() if k in CORE}, "", skip=("sections",))
        if not core.model.family:
            from tasks.registry import record

            core = dataclasses.replace(core, model=dataclasses.replace(core.model, family=record(task).family))
        sections = {name: _build(tp, d.get(name) or {}, f"{name}.") for name, tp in own.items()}
        for name, sec in sections.items():  # a section may check its own values
            try:
                getattr(sec, "validate", lambda: None)()
            except ValueError as e:
                raise ConfigError(f"{name}.{e}") from None
        cfg = dataclasses.replace(core, sections=sections)
        _check_values(cfg)
        return cfg

    def to_dict(self) -> dict:
        """Plain dict (lists, not tuples) that `from_dict` turns back into an equal config."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "sections"}
        d = {k: (dataclasses.asdict(v) if dataclasses.is_dataclass(v) else v) for k, v in d.items()}
        for name, sec in self.sections.items():
            d[name] = dataclasses.asdict(sec)
        return _plain(d)

    def replace(self, **sections: dict) -> "RunConfig":
        """A copy with some keys changed, e.g. `cfg.replace(optim={"lr": 1.0})`; validated."""
        d = self.to_dict()
        for name, value in sections.items():
            if isinstance(value, dict) and isinstance(d.get(name), dict):
                d[name] = {**d[name], **value}
            else:
                d[name] = value
        return RunConfig.from_dict(d)

    @classmethod
    def load(cls, path: str | Path) -> "RunConfig":
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"{path}: run config not found; expected a YAML file written by tasks.resolve")
        try:
            d = yaml.load(path.read_text(), Loader=Loader)
        except yaml.YAMLError as e:
            raise ConfigError(f"{path}: not valid YAML ({e})") from None
        if not isinstance(d, dict):
            raise ConfigError(f"{path}: expected a mapping of config sections, got {type(d).__name__}")
        try:
            return cls.from_dict(d)
        except ConfigError as e:
            raise ConfigError(f"{path}: {e}") from None

    def dump(self, path: str | Path) -> None:
        """Write the config as YAML atomically (temp file + rename)."""
        atomic_write_text(path, yaml.safe_dump(self.to_dict(), sort_keys=False))


def _task_sections(task) -> dict:
    from tasks.registry import TASKS, section_classes

    if not isinstance(task, str) or task not in TASKS:
        raise ConfigError(f"task: unknown task {task!r}; expected one of {sorted(TASKS)}")
    own = section_classes(task)
    clash = sorted(set(own) & set(CORE))
    if clash:
        raise ConfigError(f"task {task!r} declares config sections {clash} that are core sections")
    return own


def _build(cls, d: Any, prefix: str, skip: tuple = ()):
    where = prefix.rstrip(".") or "config"
    if not isinstance(d, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(d).__name__} ({d!r})")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls) if f.name not in skip]
    for key in d:
        if key not in names:
            raise ConfigError(f"{prefix}{key}: unknown key; expected one of {names}")
    kwargs = {}
    for name in names:
        if name not in d:
            continue
        tp, path = hints[name], f"{prefix}{name}"
        if dataclasses.is_dataclass(tp):
            kwargs[name] = _build(tp, d[name], path + ".")
        else:
            kwargs[name] = _coerce(d[name], tp, path)
    return cls(**kwargs)


def _type_name(tp) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(value: Any, tp, path: str):
    """Check `value` against annotation `tp`; return it in canonical form (tuples, floats)."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Union:  # Optional[X]
        if value is None:
            return None
        return _coerce(value, args[0], path)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{path}: expected a list of {_type_name(args[0])}, got "
                              f"{type(value).__name__} ({value!r})")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(v, args[0], f"{path}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise ConfigError(f"{path}: expected a list of {len(args)} numbers, got {len(value)} ({value!r})")
        return tuple(_coerce(v, a, f"{path}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
    if tp is dict or origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: expected a mapping, got {type(value).__name__} ({value!r})")
        return dict(value)
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp is float and isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{path}: expected a finite number, got {value!r}")
    ok = isinstance(value, tp) and not (tp is int and isinstance(value, bool))
    if not ok:
        raise ConfigError(f"{path}: expected {_type_name(tp)}, got {type(value).__name__} ({value!r})")
    return value


def _check_values(cfg: RunConfig) -> None:
    """Value checks beyond types: choices, signs, scheme names, the task name."""
    from models.scheme import get_scheme

    for path, choices in CHOICES.items():
        if _get(cfg, path) not in choices:
            raise ConfigError(f"{path}: {_get(cfg, path)!r} is not one of {list(choices)}")
    for path in POSITIVE:
        if _get(cfg, path) <= 0:
            raise ConfigError(f"{path}: expected a positive number, got {_get(cfg, path)!r}")
    for path in NON_NEGATIVE:
        if _get(cfg, path) < 0:
            raise ConfigError(f"{path}: expected a number >= 0, got {_get(cfg, path)!r}")
    for path in ("model.encoder_scheme", "model.decoder_scheme"):
        name = _get(cfg, path)
        if name is not None:
            try:
                get_scheme(name)
            except ValueError as e:
                raise ConfigError(f"{path}: {e}") from None
    if cfg.train.max_updates == 0 and cfg.train.max_epochs == 0:
        raise ConfigError("train.max_updates and train.max_epochs are both 0; set at least one "
                          "so that training ends")
    dv = cfg.divergence
    for name, lo, hi, hi_open in (("chance_margin", 0.0, 1.0, True), ("judge_after", 0.0, 1.0, False),
                                  ("progress_window", 0.0, 1.0, False), ("progress_margin", 0.0, 1.0, True),
                                  ("progress_level", 0.0, 1.0, False)):
        v = getattr(dv, name)
        if not (lo <= v < hi if hi_open else lo <= v <= hi):
            raise ConfigError(f"divergence.{name}: expected a value in [{lo:g}, {hi:g}{')' if hi_open else ']'}, "
                              f"got {v!r}")
    if not dv.loss_bound > 0:
        raise ConfigError(f"divergence.loss_bound: expected a positive number of nats, got {dv.loss_bound!r}")
    if not (dv.explode_factor == 0 or dv.explode_factor > 1):
        raise ConfigError(f"divergence.explode_factor: expected 0 (off) or a factor > 1 of the chance loss, "
                          f"got {dv.explode_factor!r}")
    if dv.chance_after < 0:
        raise ConfigError(f"divergence.chance_after: expected an update count >= 0, got {dv.chance_after!r}")


def _get(cfg: RunConfig, path: str):
    obj = cfg
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj


def _plain(x):
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    return x
