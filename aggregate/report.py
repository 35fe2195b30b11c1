"""Build the Snakemake HTML report with a rule graph of one node per rule.

    python -m aggregate.report --out results/report.html [--config scale=small ...] [other snakemake args]

Same as `snakemake --report OUT report_pages`, with one difference: Snakemake's report draws its
rule graph from the job DAG's levels and keeps one job per rule *per level*, so a rule whose jobs
sit at different depths appears several times (train: Admin runs wait for their profiling step;
table and figure: some tables wait for trained runs, others only for initialization studies).
`rule_graph` below draws one node per rule and one link per pair of rules that depend on each
other, placed by the deepest level the rule reaches; this module swaps it in for the report only
(snakemake is pinned in requirements.txt, so the swapped function's signature is fixed).
"""
from __future__ import annotations

import sys


def rule_graph(dag):
    """(spec, xmax, ymax) in the shape of snakemake.report.rulegraph_spec.rulegraph_spec: nodes
    {"rule", "fx", "fy"} one per rule, links {"source", "target", "sourcerule", "targetrule",
    "value"}; `links_direct` joins rules on consecutive rows, `links` the others."""
    depth: dict[str, int] = {}
    for level, jobs in enumerate(dag.toposorted()):
        for job in jobs:
            depth[job.rule.name] = max(depth.get(job.rule.name, 0), level)
    order = sorted(depth, key=lambda r: (depth[r], r))
    idx = {rule: i for i, rule in enumerate(order)}
    nodes = [{"rule": rule, "fx": 10, "fy": i * 50} for i, rule in enumerate(order)]
    pairs = {(v.rule.name, u.rule.name) for u in dag.jobs for v in dag.dependencies[u]}
    links, direct = [], []
    for src, dst in sorted(pairs):
        if src == dst:
            continue
        link = {"source": idx[src], "target": idx[dst], "sourcerule": src, "targetrule": dst, "value": 1}
        (direct if idx[dst] - idx[src] == 1 else links).append(link)
    return {"nodes": nodes, "links": links, "links_direct": direct}, 100, max((n["fy"] for n in nodes), default=0)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--out" not in argv:
        print("python -m aggregate.report: --out REPORT.html is required (then any snakemake arguments)",
              file=sys.stderr)
        return 2
    i = argv.index("--out")
    out, rest = argv[i + 1], argv[:i] + argv[i + 2:]
    import snakemake.report.html_reporter as html_reporter
    from snakemake.cli import main as snakemake_main

    html_reporter.rulegraph_spec = rule_graph
    # report_pages depends on every table's page, hence on every job of the workflow.
    return snakemake_main(["report_pages", "--report", out, *rest])


if __name__ == "__main__":
    sys.exit(main())
