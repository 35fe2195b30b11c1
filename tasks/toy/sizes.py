"""Model sizes of the toy task: its own family "toy" (trivial | tiny), else the models/ families."""
from __future__ import annotations

TOY_SIZES = {"trivial": {"dim": 32}, "tiny": {"dim": 32, "layers": 2, "dropout": 0.1}}


def resolve_toy_size(family: str, size: str, overrides: dict):
    if family != "toy":
        from models.sizes import resolve_size

        return resolve_size(family, size, **overrides)
    if size not in TOY_SIZES:
        raise ValueError(f"model.size: unknown toy size {size!r}; expected one of {sorted(TOY_SIZES)}")
    valid = {"dim", "layers", "dropout"}
    bad = sorted(set(overrides) - valid)
    if bad:
        raise ValueError(f"unknown toy size override(s) {bad}; valid keys are {sorted(valid)}")
    return {**TOY_SIZES[size], **overrides}
