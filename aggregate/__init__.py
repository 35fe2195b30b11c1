"""Tables, figures, reference CSVs, compare and claims verdicts (docs/ARCHITECTURE.md).

Entry points: python -m aggregate.table | aggregate.figure | aggregate.compare
"""
