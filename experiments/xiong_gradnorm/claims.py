"""The claims of this experiment (experiments/claim.py says what a claim is)."""
from experiments.claim import Claim

CLAIMS = (
    Claim(
        id='xiong_grad_by_layer',
        paper='Xiong 2020, Fig. 3(a,b)',
        text="At initialization, Post-LN's gradient norm of the FFN weights grows with layer index toward the output; Pre-LN's stays flat.",
        measured="Frobenius norm of the batch-averaged gradient of each layer's W1/W2 (encoder and decoder) at init, mean over 10 seeds; compare last/first-layer ratio between schemes.",
        source='Xiong et al. 2020, On Layer Normalization in the Transformer Architecture (ICML 2020, arXiv:2002.04745)',
        study='xiong_gradnorm',
        at_init=True,
    ),
    Claim(
        id='xiong_grad_last_vs_depth',
        paper='Xiong 2020, Fig. 3(c,d), Thm 1',
        text="At initialization, Post-LN's gradient norm of W2 in the last FFN stays roughly constant as depth grows (6..14 layers); Pre-LN's decreases with depth (about 1/sqrt(L)).",
        measured='same measurement for L in {6,8,10,12,14}; fit slope of log-norm vs log-L per scheme.',
        source='Xiong et al. 2020, On Layer Normalization in the Transformer Architecture (ICML 2020, arXiv:2002.04745)',
        study='xiong_gradnorm',
        at_init=True,
    ),
)
