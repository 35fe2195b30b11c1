"""The claims of this experiment (experiments/claim.py says what a claim is)."""
from experiments.claim import Claim

CLAIMS = (
    Claim(
        id='admin_output_change',
        paper='Liu 2020, Fig. 4, Cor. 1-2',
        text='The output change under a small parameter perturbation grows about linearly with depth N for Post-LN and about log N for Pre-LN; Admin behaves like Pre-LN at init.',
        measured='|F(x,W) - F(x,W*)|^2 for random parameter perturbations and for one gradient update, at N in {6,12,18,24,...} layers per stack; compare the growth with N per scheme (Post-LN about linear, Pre-LN and Admin about logarithmic).',
        source='Liu et al. 2020, Understanding the Difficulty of Training Transformers (EMNLP 2020, arXiv:2004.08249)',
        study='admin_output_change',
        at_init=True,
    ),
    Claim(
        id='admin_dependency',
        paper='Liu 2020, Sec. 4',
        text='A Post-LN layer depends more on its own residual branch (larger beta_ii) than a Pre-LN layer.',
        measured='beta_{i,j} = Std[a_j] / Std[sum_{k<=i} a_k] from forward activations.',
        source='Liu et al. 2020, Understanding the Difficulty of Training Transformers (EMNLP 2020, arXiv:2004.08249)',
        study='admin_dependency',
        at_init=True,
    ),
)
