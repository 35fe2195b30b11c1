"""What every package shares and nothing else: atomic writes, YAML loading, token ids, the fairseq dictionary."""
