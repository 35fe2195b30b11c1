"""The closed, typed run config (docs/ARCHITECTURE.md "Run config").

`tasks.resolve` writes it, `tasks.train` reads it. Every section is a frozen dataclass;
`RunConfig.from_dict` fails on unknown keys, wrong types, unknown schemes and unknown
choices with a message that names the full key path (e.g. "optim.lrr"). Missing keys take
the defaults below. Ints are accepted where floats are expected; bools are never numbers.
"""
from __future__ import annotations

import dataclasses
import os
import re
import tempfile
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import yaml


class ConfigError(ValueError):
    """A run config that does not match the schema; the message names the key."""


@dataclass(frozen=True)
class DataConfig:
    dir: str = ""
    max_tokens: int = 4096
    max_sentences: int = 0  # 0 = no cap on sentences per batch
    max_positions: int = 1024
    num_workers: int = 0


@dataclass(frozen=True)
class ModelConfig:
    family: str = "translation"
    size: str = "transformer_iwslt_de_en"
    encoder_scheme: str = "post_ln"
    decoder_scheme: Optional[str] = None  # None: same as the encoder / no decoder
    share: Optional[str] = None
    overrides: dict = field(default_factory=dict)
    omega: Optional[str] = None  # path to omega.json, or "admin_torch:O(logn)"


@dataclass(frozen=True)
class OptimConfig:
    name: str = "adam"  # adam|adamw|radam|sgd|lars
    lr: float = 5.0e-4
    betas: tuple[float, float] = (0.9, 0.98)
    eps: float = 1.0e-8
    weight_decay: float = 0.0
    momentum: float = 0.0
    nesterov: bool = False
    trust_coef: float = 0.001
    clip_norm: float = 0.0
    no_decay: tuple[str, ...] = ("bias", "norm", "gamma", "omega")


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


@dataclass(frozen=True)
class TrainConfig:
    max_updates: int = 100000
    max_epochs: int = 0  # 0 = no epoch limit
    update_freq: int = 1
    precision: str = "auto"  # auto|fp32|bf16
    log_every: int = 100
    checkpoint_every: int = 1000
    keep_epoch_checkpoints: int = 10
    validate_every_epochs: int = 1
    tensorboard: bool = False


@dataclass(frozen=True)
class DivergenceConfig:
    loss_bound: float = 1.0e4
    patience: int = 5
    chance_after: int = 0  # 0 = no "stuck at chance" check
    chance_margin: float = 0.05


@dataclass(frozen=True)
class ProbesConfig:
    every: int = 0  # 0 = probes off
    entropy: bool = True
    spectral: bool = True
    grad_norms: bool = False
    update_norms: bool = False
    omega: bool = True
    dependency: bool = False


@dataclass(frozen=True)
class EvalConfig:
    beam: int = 5
    lenpen: float = 1.0
    max_len_a: float = 0.0
    max_len_b: int = 200
    avg_last: int = 10
    bleu_lowercase: bool = False
    compound_split: bool = False
    batch_sentences: int = 128
    split: str = "test"


# Closed choices; a value outside them fails naming the key.
CHOICES = {
    "optim.name": ("adam", "adamw", "radam", "sgd", "lars"),
    "schedule.name": ("constant", "inverse_sqrt", "linear", "cosine", "step"),
    "schedule.then": ("none", "inverse_sqrt"),
    "loss.name": ("label_smoothed_ce", "ce", "ctc"),
    "train.precision": ("auto", "fp32", "bf16"),
}
POSITIVE = ("train.update_freq", "train.log_every", "train.checkpoint_every",
            "train.validate_every_epochs", "data.max_tokens", "divergence.patience")
NON_NEGATIVE = ("seed", "train.max_updates", "train.max_epochs", "train.keep_epoch_checkpoints",
                "schedule.warmup_updates", "schedule.total_updates", "probes.every",
                "data.max_sentences", "eval.avg_last", "optim.lr", "optim.weight_decay",
                "optim.clip_norm", "loss.label_smoothing")


@dataclass(frozen=True)
class RunConfig:
    task: str = "translation"
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
    eval: EvalConfig = field(default_factory=EvalConfig)

    @classmethod
    def from_dict(cls, d: dict) -> "RunConfig":
        """Build and validate a config from a plain dict (as read from YAML)."""
        cfg = _build(cls, d, "")
        _check_values(cfg)
        return cfg

    def to_dict(self) -> dict:
        """Plain dict (lists, not tuples) that `from_dict` turns back into an equal config."""
        return _plain(dataclasses.asdict(self))

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
            d = yaml.load(path.read_text(), Loader=_Loader)
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


class _Loader(yaml.SafeLoader):
    """SafeLoader that also reads `1e-4` as a float (YAML 1.1 wants a dot: `1.0e-4`)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write through a temp file in the same directory and os.replace: readers never see a
    partial file, and a failed write leaves the previous content in place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def _build(cls, d: Any, prefix: str):
    where = prefix.rstrip(".") or "config"
    if not isinstance(d, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(d).__name__} ({d!r})")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
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
    ok = isinstance(value, tp) and not (tp is int and isinstance(value, bool))
    if not ok:
        raise ConfigError(f"{path}: expected {_type_name(tp)}, got {type(value).__name__} ({value!r})")
    return value


def _check_values(cfg: RunConfig) -> None:
    """Value checks beyond types: choices, signs, scheme names, the task name."""
    from models.scheme import get_scheme

    from tasks.registry import TASKS

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
    if cfg.task not in TASKS:
        raise ConfigError(f"task: unknown task {cfg.task!r}; expected one of {sorted(TASKS)}")
    if cfg.train.max_updates == 0 and cfg.train.max_epochs == 0:
        raise ConfigError("train.max_updates and train.max_epochs are both 0; set at least one "
                          "so that training ends")
    if not 0.0 <= cfg.divergence.chance_margin < 1.0:
        raise ConfigError(f"divergence.chance_margin: expected a value in [0, 1), got {cfg.divergence.chance_margin}")


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
