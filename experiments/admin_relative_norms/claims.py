"""The claims of this experiment (experiments/claim.py says what a claim is)."""
from experiments.claim import Claim

CLAIMS = (
    Claim(
        id='admin_unbalanced_grads',
        paper='Liu 2020, Fig. 5',
        text="Gradients are unbalanced across parameters, but Adam's updates are far more balanced than the gradients.",
        measured='histograms of relative gradient norm and relative update norm per parameter.',
        source='Liu et al. 2020, Understanding the Difficulty of Training Transformers (EMNLP 2020, arXiv:2004.08249)',
        study='admin_relative_norms',
    ),
)
