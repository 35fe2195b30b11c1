"""LibriSpeech CTC speech recognition (the sigma-reparam speech recipe; docs/recipes.md §8)."""
