"""The catalog: the bottom of the house above `common` and `models`.

It loads and validates config/ once per process (catalog.config: scales, recipes, variants,
datasets), reads experiment specs (catalog.experiment), spells run ids (catalog.runid), reads
run directories (catalog.runs) and owns the shared words (catalog.words: scales, verdicts, run
statuses). tasks/, studies/, experiments/, aggregate/ and the Snakefile read config through it;
it imports no normbench package above it.
"""
