# Tables, figures, compare against the papers, claims verdicts.


rule table:
    input:
        table_inputs,
    output:
        report(f"{P}/tables/{{table}}.csv", category="Tables", caption="../report/table.rst"),
    params:
        scale=SCALE,
        results=results_root,
        seeds=seeds_arg,
    log:
        f"{P}/logs/table/{{table}}.log",
    benchmark:
        f"{P}/benchmarks/table/{{table}}.tsv"
    localrule: True
    conda:
        "../../envs/analysis.yaml"
    shell:
        "python -m aggregate.table --table {wildcards.table} --scale {params.scale} "
        "--results {params.results} {params.seeds} --out {output} > {log} 2>&1"


rule figure:
    input:
        f"{P}/tables/{{table}}.csv",
    output:
        png=report(f"{P}/figures/{{table}}.png", category="Figures", caption="../report/figure.rst"),
        pdf=f"{P}/figures/{{table}}.pdf",
    params:
        scale=SCALE,
        results=results_root,
        seeds=seeds_arg,
    log:
        f"{P}/logs/figure/{{table}}.log",
    benchmark:
        f"{P}/benchmarks/figure/{{table}}.tsv"
    localrule: True
    conda:
        "../../envs/analysis.yaml"
    shell:
        "python -m aggregate.figure --table {wildcards.table} --scale {params.scale} "
        "--results {params.results} {params.seeds} --out {output.png} > {log} 2>&1"


rule compare_table:
    input:
        table=f"{P}/tables/{{table}}.csv",
        reference=reference_inputs,
    output:
        f"{P}/compare/{{table}}.csv",
    params:
        scale=SCALE,
        results=results_root,
    log:
        f"{P}/logs/compare/{{table}}.log",
    benchmark:
        f"{P}/benchmarks/compare/{{table}}.tsv"
    localrule: True
    conda:
        "../../envs/analysis.yaml"
    shell:
        "python -m aggregate.compare --scale {params.scale} --results {params.results} "
        "--table {wildcards.table} > {log} 2>&1"


rule compare_claims:
    input:
        table=f"{P}/tables/{{table}}.csv",
        claims=table_claims_inputs,
    output:
        f"{P}/compare/{{table}}.claims.csv",
    params:
        scale=SCALE,
        results=results_root,
    log:
        f"{P}/logs/compare/{{table}}.claims.log",
    benchmark:
        f"{P}/benchmarks/compare/{{table}}.claims.tsv"
    localrule: True
    conda:
        "../../envs/analysis.yaml"
    shell:
        "python -m aggregate.compare --scale {params.scale} --results {params.results} "
        "--claims {wildcards.table} > {log} 2>&1"


rule compare_summary:
    input:
        compare=expand(f"{P}/compare/{{table}}.csv", table=TABLE_IDS),
        claims=claims_inputs,
    output:
        summary=report(f"{P}/compare/summary.md", category="Compare", caption="../report/summary.rst"),
        claims=f"{P}/compare/claims.csv",
    params:
        scale=SCALE,
        results=results_root,
        strict=strict_arg,
    log:
        f"{P}/logs/compare/summary.log",
    benchmark:
        f"{P}/benchmarks/compare/summary.tsv"
    localrule: True
    conda:
        "../../envs/analysis.yaml"
    shell:
        "python -m aggregate.compare --scale {params.scale} --results {params.results} "
        "{params.strict} > {log} 2>&1"
