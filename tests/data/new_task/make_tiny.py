import argparse
from pathlib import Path

import numpy as np

ap = argparse.ArgumentParser()
for flag in ("--dataset", "--size", "--out"):
    ap.add_argument(flag)
args = ap.parse_args()
rng = np.random.default_rng(0)
y = rng.integers(0, 2, 256)
x = rng.normal(size=(256, 2)) + 2.5 * y[:, None]
Path(args.out).mkdir(parents=True, exist_ok=True)
Path(args.out, "points.csv").write_text("".join(f"{a},{b},{c}\n" for (a, b), c in zip(x, y)))
