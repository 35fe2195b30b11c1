"""Machine translation: IWSLT'14 De-En, WMT'14 En-De and En-Fr, from raw archives to BLEU.

Entry points
- `python -m tasks.translation.make_tiny --dataset D --out RAW [--size tiny|small] [--seed N]`:
  a synthetic language pair (lexicon.py, language.py) in the original file formats;
- `python -m tasks.translation.prepare --dataset D --raw RAW --out DATA [--variant admin|fairseq]`:
  the fairseq / Transformer-Clinic preparation recipes (recipes.py, raw.py, moses.py);
- `tasks.registry.TASKS["translation"]` -> `task.TranslationTask`, trained by `tasks.train`.
Modules: dictionary.py (fairseq dictionary), dataset.py (memory-mapped pairs, collation),
generate.py (beam search), bleu.py (tokenised / detokenised / compound-split BLEU).
"""
