"""The Snakemake workflow: lint, targets, the paper-scale DAG on stand-in data, bad input."""
from pathlib import Path

import pytest

from catalog.config import CatalogError
from catalog.experiment import check_block, load_spec
from experiments.registry import ids as table_ids
from bench.workflow_dag import dry_run_paper, job_count, make_stand_in_datasets, snakemake

TABLES = table_ids()


def test_lint_is_clean():
    proc = snakemake(["--lint"])
    assert proc.returncode == 0, proc.stdout


def test_one_target_rule_per_table():
    proc = snakemake(["--list-target-rules"])
    assert proc.returncode == 0, proc.stdout
    listed = set(proc.stdout.split())
    assert set(TABLES) <= listed and "all" in listed


def test_paper_scale_dry_run_of_every_target(tmp_path):
    # Its time is measured by bench/workflow_dag.py (budget 10 s), not asserted here.
    _, _, proc = dry_run_paper(tmp_path, ["all", *TABLES])
    assert proc.returncode == 0, proc.stdout
    # 50 distinct runs (shared runs trained once), each with its config; Admin runs profiled.
    assert "train" in proc.stdout and job_count(proc.stdout) >= 100


def test_runs_shared_by_tables_are_trained_once(tmp_path):
    _, _, both = dry_run_paper(tmp_path, ["admin_table1", "admin_table2"])
    _, _, t2 = dry_run_paper(tmp_path / "b", ["admin_table2"])
    count = lambda out: int(next(l.split()[1] for l in out.splitlines() if l.startswith("train ")))
    # admin_table1 adds only the Post-LN/Pre-LN 18L-18L run; its other two are admin_table2's.
    assert count(both.stdout) == count(t2.stdout) + 1


def test_unknown_config_key_stops_before_any_job(tmp_path):
    proc = snakemake(["-n", "all"], {"scal": "paper"})
    assert proc.returncode != 0 and "'scal' was unexpected" in proc.stdout


def test_missing_dataset_at_paper_scale_names_key_layout_and_source(tmp_path):
    proc = snakemake(["-n", "admin_table2"], {"scale": "paper", "results": str(tmp_path)})
    assert proc.returncode != 0
    for words in ("datasets.iwslt14_de_en", "de-en.tgz", "wit3.fbk.eu"):
        assert words in proc.stdout, words


def test_bad_dataset_path_and_incomplete_layout(tmp_path):
    proc = snakemake(["-n", "all"], {"datasets": f"{{wmt14_en_de: {tmp_path}/nowhere}}"})
    assert proc.returncode != 0 and "does not exist" in proc.stdout and "statmt.org/wmt14" in proc.stdout
    data = make_stand_in_datasets(tmp_path)
    next(Path(data["wmt14_en_de"]).glob("training/europarl-v7.de-en.en")).unlink()
    proc = snakemake(["-n", "all"], {"datasets": f"{{wmt14_en_de: {data['wmt14_en_de']}}}"})
    assert proc.returncode != 0 and "training/europarl-v7.de-en.en* not found" in proc.stdout


def test_unknown_scheme_in_a_table_grid_is_rejected():
    block = {"task": "translation", "dataset": "iwslt14_de_en", "archs": ["transformer_iwslt_de_en-6L-6L"],
             "schemes": ["post_ln", "fancy_ln"], "variants": ["admin_iwslt"], "seeds": [1]}
    with pytest.raises(CatalogError, match="unknown scheme 'fancy_ln'"):
        check_block(block, "test")


def test_a_study_that_does_not_exist_is_named_when_the_spec_loads(tmp_path):
    """An experiment naming a study module that does not exist fails before any job starts."""
    folder = tmp_path / "my_table"
    folder.mkdir()
    (folder / "experiment.yaml").write_text("id: my_table\ntitle: t\npaper: x2020_y\nstudies: [no_such_study]\n")
    with pytest.raises(CatalogError, match="unknown study 'no_such_study'; expected a module studies/no_such_study.py"):
        load_spec(folder)
