"""Tidy outputs carry real values: BLEU with its definition and sacreBLEU signature, study rows
with their dataset, papers named by citation, reference provenance carried into the compare."""
import pandas as pd

from aggregate import compare, table
from aggregate.reference import REFERENCE_SOURCES, reference_rows
from experiments.registry import all_claims
from experiments.registry import ids as table_ids
from experiments.registry import spec as load_table

SIG = "nrefs:1|case:lc|eff:no|tok:13a|smooth:exp|version:2.6.0"


def test_bleu_cells_carry_the_definition_and_the_sacrebleu_signature():
    spec = load_table("admin_table2")
    bleu = next(m for m in spec.metrics if m["name"] == "BLEU")
    assert "tokenized" in bleu["definition"]
    runs = [{"status": "ok", "eval": {"bleu": 30.0, "sacrebleu": 29.0, "sacrebleu_signature": SIG}},
            {"status": "ok", "eval": {"bleu": 32.0, "sacrebleu": 31.0, "sacrebleu_signature": SIG}},
            {"status": "diverged", "eval": {}}]
    row = table.metric_row(bleu, runs)
    assert row["value"] == 31.0 and row["n_seeds"] == 2
    assert row["sacrebleu"] == 30.0 and row["sacrebleu_signature"] == SIG
    assert row["metric_definition"] == bleu["definition"]
    # every table that shows BLEU says what it is
    for t in table_ids():
        for m in load_table(t).metrics:
            if m["name"] == "BLEU":
                assert m.get("definition") and "sacrebleu_signature" in (m.get("extra") or {}), t


def test_study_rows_get_the_tables_dataset_label():
    assert table.study_dataset(load_table("sigma_entropy")) == "iwslt14_de_en"
    assert table.study_dataset(load_table("admin_relative_norms")) == "iwslt14_de_en"
    for t in table_ids():  # no template renders an internal value such as run:seed1111
        for entry in load_table(t).study_rows:
            assert "{source}" not in str(entry.get("dataset", "")), t


def test_papers_are_named_by_citation_keys():
    for t in table_ids():
        paper = load_table(t).paper
        assert paper.split("_")[0][-4:].isdigit() and not paper.startswith("seed"), (t, paper)


def test_reference_source_is_carried_into_the_compare(tmp_path):
    ref = reference_rows(load_table("admin_table2"))
    assert set(ref["reference_source"]) <= set(REFERENCE_SOURCES) and len(ref) > 10
    assert "reference_source" in compare.COLUMNS
    # a compare row takes the provenance of its reference row
    scale = tmp_path / "paper" / "tables"
    scale.mkdir(parents=True)
    r = ref.iloc[0]
    pd.DataFrame([{"paper": r["paper"], "table": "admin_table2", "task": "translation", "dataset": r["dataset"],
                   "depth": r["depth"], "scheme": r["scheme"], "setting": r["setting"], "metric": "BLEU",
                   "value": "1.0", "std": "", "outcome": "ok", "n_seeds": "1", "dataset_key": r["dataset_key"],
                   "variant": r["variant"]}]).to_csv(scale / "admin_table2.csv", index=False)
    df = compare.compare_table("admin_table2", "paper", str(tmp_path))
    assert set(df["reference_source"]) - {""} <= set(REFERENCE_SOURCES)
    assert (df["reference_source"] != "").sum() == len(ref)
    assert (df["regenerated"] == "1.0").sum() == 1  # joined on its keys


def test_claims_are_complete_sentences_with_measurements():
    for _, c in all_claims():
        assert c.text.strip().endswith((".", ")", "'")), c.id
        assert c.measured.strip(), c.id
        assert "shared" not in str(c.source), c.id
