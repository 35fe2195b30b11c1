# One run = one directory results/<scale>/runs/<run id>/ (docs/ARCHITECTURE.md).
# Training declares only its final files; checkpoints live in the run directory (passed as a
# param, never an output), so a retried or requeued job resumes instead of starting over.


rule run_config:
    output:
        f"{P}/runs/{RUN}/config.yaml",
    params:
        run=run_id,
        scale=SCALE,
        digest=config_digest,
        results=results_root,
    localrule: True  # a second of work: never a cluster job
    log:
        f"{P}/logs/run_config/{RUN}.log",
    benchmark:
        f"{P}/benchmarks/run_config/{RUN}.tsv"
    conda:
        "../../envs/train.yaml"
    shell:
        "python -m tasks.resolve --scale {params.scale} --run {params.run} "
        "--results {params.results} --out {output} > {log} 2>&1"


rule admin_profile:
    input:
        config=f"{P}/runs/{RUN}/config.yaml",
        data=data_dir,
    output:
        f"{P}/runs/{RUN}/omega.json",
    params:
    log:
        f"{P}/logs/admin_profile/{RUN}.log",
    benchmark:
        f"{P}/benchmarks/admin_profile/{RUN}.tsv"
    threads: rule_threads("admin_profile")
    resources:
        **rule_resources("admin_profile"),
    conda:
        "../../envs/train.yaml"
    shell:
        "python -m tasks.admin_profile --config {input.config} --out {output} > {log} 2>&1"


rule train:
    input:
        unpack(train_inputs),
    output:
        eval=f"{P}/runs/{RUN}/eval.json",
        status=f"{P}/runs/{RUN}/status.json",
    params:
        rundir=run_dir,
        launcher=launcher,
        gpu=gpu_flag,
    log:
        f"{P}/logs/train/{RUN}.log",
    benchmark:
        f"{P}/benchmarks/train/{RUN}.tsv"
    threads: rule_threads("train")
    resources:
        **rule_resources("train"),
    conda:
        "../../envs/train.yaml"
    shell:
        # exit 75 = checkpointed after SIGTERM/SIGUSR1: Snakemake retries and the run resumes
        "OMP_NUM_THREADS={threads} {params.launcher} -m tasks.train "
        "--config {input.config} --out {params.rundir} {params.gpu} >> {log} 2>&1"
