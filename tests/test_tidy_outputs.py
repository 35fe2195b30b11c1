"""Tidy outputs carry real values: BLEU with its definition and sacreBLEU signature, study rows
with their dataset, papers named by citation, reference provenance carried into the compare."""
import pandas as pd
import yaml

from aggregate import compare, table
from aggregate.reference import REFERENCE_DIR, REFERENCE_SOURCES, reference_rows, reference_source
from aggregate.spec import load_table, table_ids

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
    assert table.study_dataset_label(load_table("sigma_entropy")) == "IWSLT'14 De-En"
    assert table.study_dataset_label(load_table("admin_relative_norms")) == "IWSLT'14 De-En"
    for t in table_ids():  # no template renders an internal value such as run:seed1111
        for entry in load_table(t).study_rows:
            assert "{source}" not in str(entry.get("dataset", "")), t


def test_papers_are_named_by_citation_keys():
    for t in table_ids():
        paper = load_table(t).paper
        assert paper.split("_")[0][-4:].isdigit() and not paper.startswith("seed"), (t, paper)


def test_reference_source_is_classified_and_carried_into_the_compare(tmp_path):
    assert reference_source("SECONDARY: a reading note", "x") == "secondary source"
    assert reference_source("Xiong et al. 2020, Sec 3.2 text", "x") == "paper text"
    assert reference_source("Liu et al. 2020, Table 2", "x") == "paper table"
    ref = reference_rows("admin_table2", ["admin_table2_bleu.csv"])
    assert set(ref["reference_source"]) <= set(REFERENCE_SOURCES) and len(ref) > 10
    assert "reference_source" in compare.COLUMNS
    # a compare row takes the provenance of its reference row
    scale = tmp_path / "paper" / "tables"
    scale.mkdir(parents=True)
    r = ref.iloc[0]
    pd.DataFrame([{"paper": r["paper"], "table": "admin_table2", "task": "translation", "dataset": r["dataset"],
                   "depth": r["depth"], "scheme": r["scheme"], "setting": r["setting"], "metric": "BLEU",
                   "value": "1.0", "std": "", "outcome": "ok", "n_seeds": "1"}]).to_csv(scale / "admin_table2.csv",
                                                                                     index=False)
    df = compare.compare_table("admin_table2", "paper", str(tmp_path))
    assert set(df["reference_source"]) - {""} <= set(REFERENCE_SOURCES)
    assert (df["reference_source"] != "").sum() == len(ref)


def test_claims_are_complete_sentences_with_measurements():
    claims = yaml.safe_load((REFERENCE_DIR / "claims.yaml").read_text())["claims"]
    for c in claims:
        assert c["claim"].strip().endswith((".", ")", "'")), c["id"]
        assert c["measured"].strip(), c["id"]
        assert "shared" not in str(c["source"]), c["id"]
