# normbench: one target per table or figure of Xiong et al. 2020, Liu et al. 2020 (Admin) and
# Zhai et al. 2023 (sigma-reparam). `snakemake --list-target-rules` lists them.
# Usage: snakemake --profile workflow/profiles/default <target> [--config scale=small]
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"


wildcard_constraints:
    task="[a-z0-9_]+",
    dataset="[a-z0-9_]+",
    arch="[A-Za-z0-9_.-]+",
    scheme="[a-z0-9_+]+",
    variant="[A-Za-z0-9_.+-]+",
    seed=r"\d+",
    table="|".join(TABLE_IDS),
    study="|".join(STUDY_IDS),


rule all:
    input:
        all_targets,
    default_target: True
    localrule: True


for _table in TABLE_IDS:

    rule:
        name:
            _table
        input:
            target_files(_table),
        localrule: True


include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/studies.smk"
include: "workflow/rules/analysis.smk"
include: "workflow/rules/report.smk"
