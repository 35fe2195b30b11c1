# The report, read like the papers: per table, training curves of the runs behind it and one
# page with the regenerated table beside the paper's (deltas, verdicts), the figure, the curves
# and the claims. Build it with `python -m aggregate.report --out results/report.html`
# (snakemake --report with a rule graph of one node per rule; see aggregate/report.py).


rule training_curves:
    input:
        # the finished runs of the table's grid and of its studies (their metrics.jsonl is read)
        lambda w: run_outputs(sorted(set(table_runs(w.table) + table_runs(w.table, "study_runs")))),
    output:
        png=report(f"{P}/figures/{{table}}_curves.png", category="Training curves", subcategory="PNG",
                   caption="../report/curves.rst"),
        pdf=report(f"{P}/figures/{{table}}_curves.pdf", category="Training curves", subcategory="PDF",
                   caption="../report/curves.rst"),
    params:
        scale=SCALE,
        results=results_root,
        seeds=seeds_arg,
    log:
        f"{P}/logs/training_curves/{{table}}.log",
    benchmark:
        f"{P}/benchmarks/training_curves/{{table}}.tsv"
    localrule: True
    conda:
        "../../envs/analysis.yaml"
    shell:
        "python -m aggregate.curves --table {wildcards.table} --scale {params.scale} "
        "--results {params.results} {params.seeds} --out {output.png} > {log} 2>&1"


rule report_page:
    input:
        compare=f"{P}/compare/{{table}}.csv",
        table=f"{P}/tables/{{table}}.csv",
        figure=f"{P}/figures/{{table}}.png",
        curves=f"{P}/figures/{{table}}_curves.png",
        claims=f"{P}/compare/claims.csv",
    output:
        report(f"{P}/report/{{table}}.html", category="Tables vs papers", caption="../report/page.rst"),
    params:
        scale=SCALE,
        results=results_root,
    log:
        f"{P}/logs/report_page/{{table}}.log",
    benchmark:
        f"{P}/benchmarks/report_page/{{table}}.tsv"
    localrule: True
    conda:
        "../../envs/analysis.yaml"
    shell:
        "python -m aggregate.report_page --table {wildcards.table} --scale {params.scale} "
        "--results {params.results} --out {output} > {log} 2>&1"


rule report_pages:
    input:
        expand(f"{P}/report/{{table}}.html", table=TABLE_IDS),
        f"{P}/compare/summary.md",
    localrule: True
