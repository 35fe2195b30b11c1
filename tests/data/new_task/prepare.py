import argparse
from pathlib import Path

import numpy as np

ap = argparse.ArgumentParser()
for flag in ("--dataset", "--raw", "--out", "--workers"):
    ap.add_argument(flag)
args = ap.parse_args()
rows = np.loadtxt(Path(args.raw, "points.csv"), delimiter=",")
Path(args.out).mkdir(parents=True, exist_ok=True)
np.savez(Path(args.out, "points.npz"), x=rows[:, :2], y=rows[:, 2].astype(np.int64))
