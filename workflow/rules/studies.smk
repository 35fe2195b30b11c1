# Training-dynamics studies: python -m studies.<name> --scale S --out CSV writes the tidy CSV
# and <name>.claims.json beside it.


rule study:
    input:
        study_inputs,
    output:
        csv=f"{P}/studies/{{study}}.csv",
        claims=f"{P}/studies/{{study}}.claims.json",
    params:
        scale=SCALE,
        extra=study_args,
    log:
        f"{P}/logs/study/{{study}}.log",
    benchmark:
        f"{P}/benchmarks/study/{{study}}.tsv"
    threads: rule_threads("study")
    resources:
        **rule_resources("study"),
    conda:
        "../../envs/train.yaml"
    shell:
        "OMP_NUM_THREADS={threads} python -m studies.{wildcards.study} --scale {params.scale} "
        "{params.extra} --out {output.csv} > {log} 2>&1"
