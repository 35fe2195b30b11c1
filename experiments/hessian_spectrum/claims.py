"""The claims of this experiment (experiments/claim.py says what a claim is)."""
from experiments.claim import Claim

CLAIMS = (
    Claim(
        id='hessian_postln_sharper',
        paper='Zhang & Mackey 2022, Hessian study at initialization (follows Xiong 2020)',
        text="At initialization the loss surface of a Post-LN encoder-decoder has more curvature than Pre-LN's: its Hessian spectrum reaches larger eigenvalues.",
        measured='stochastic Lanczos quadrature on Hessian-vector products at init, 6L-6L, a fixed batch of sentence pairs; top eigenvalue and spectral density per scheme.',
        source='Zhang & Mackey 2022, Understanding Transformer Models at Initialization (University of Toronto MAT1510 report; follows Xiong et al. 2020)',
        study='hessian_spectrum',
        at_init=True,
    ),
)
