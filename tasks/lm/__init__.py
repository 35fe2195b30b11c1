"""WikiText language modelling (fairseq language_modeling task semantics)."""
