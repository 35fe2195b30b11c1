"""bench.results_diff: same results print nothing; a changed cell, a lost column or a changed
verdict is named; timing fields of a claim's figures are not a difference."""
import json

import pandas as pd

from bench.results_diff import main


def write(root, table_value, verdict, seconds, extra=True):
    (root / "tables").mkdir(parents=True, exist_ok=True)
    (root / "compare").mkdir(parents=True, exist_ok=True)
    cols = {"metric": "BLEU", "value": table_value, **({"dataset_key": "k"} if extra else {})}
    pd.DataFrame([cols]).to_csv(root / "tables" / "t.csv", index=False)
    pd.DataFrame([{"claim": "c", "verdict": verdict,
                   "figures": json.dumps({"top": 1.5, "run_seconds": seconds})}]).to_csv(
        root / "compare" / "claims.csv", index=False)


def test_results_diff(tmp_path, capsys):
    old, new = tmp_path / "old", tmp_path / "new"
    write(old, "1.0", "holds", 3.0, extra=False)
    write(new, "1.0", "holds", 9.0)  # an added column and a timing are no difference
    assert main([str(old), str(new)]) == 0 and capsys.readouterr().out == ""
    write(new, "2.0", "fails", 9.0)
    assert main([str(old), str(new)]) == 1
    out = capsys.readouterr().out
    assert "t.csv: 1 rows differ" in out and "claims.csv: 1 rows differ" in out
    assert main([str(tmp_path / "nothing"), str(new)]) == 2
