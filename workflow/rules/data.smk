# Raw data: generated in the real formats (tiny; small without a configured dataset), then
# prepared the same way as the real archives.


rule make_tiny_data:
    output:
        directory(f"{P}/raw/{{dataset}}"),
    params:
        module=make_tiny_module,
        size=generated_size,
    log:
        f"{P}/logs/make_tiny_data/{{dataset}}.log",
    benchmark:
        f"{P}/benchmarks/make_tiny_data/{{dataset}}.tsv"
    priority: 10  # start the long training chains first; studies fill the gaps
    resources:
        **rule_resources("make_tiny_data"),
    conda:
        "../../envs/train.yaml"
    shell:
        "python -m {params.module} --dataset {wildcards.dataset} --size {params.size} --out {output} "
        "> {log} 2>&1"


rule prepare_data:
    input:
        raw=raw_input,
    output:
        directory(f"{P}/data/{{dataset}}"),
    params:
        module=prepare_module,
        raw=raw_arg,
    log:
        f"{P}/logs/prepare_data/{{dataset}}.log",
    benchmark:
        f"{P}/benchmarks/prepare_data/{{dataset}}.tsv"
    threads: rule_threads("prepare_data")
    priority: 10
    resources:
        **rule_resources("prepare_data"),
    conda:
        "../../envs/train.yaml"
    shell:
        "python -m {params.module} --dataset {wildcards.dataset} --raw {params.raw} --out {output} "
        "--workers {threads} > {log} 2>&1"
