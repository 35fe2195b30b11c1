"""Recipe details that follow the code behind each paper's numbers (docs/reference_code.md).

Transformer-Clinic (Admin) recipes: label smoothing (1-eps)*nll + eps/V*sum(-log p), weight decay on
every parameter, RAdam that decays on every step. fairseq-0.12 recipes: eps/(V-1) smoothing and
fairseq 0.12's init (q/k/v biases at PyTorch's default). Both: the decoder masks padded keys.
"""
import math

import pytest
import torch
import yaml
from torch import nn

from models import build_model
from models.attention import Attention
from tasks.config import OptimConfig
from tasks.engine.losses import label_smoothed_nll, task_loss
from tasks.engine.optim import RAdamTC, build_optimizer, param_groups

V = 40


# ---- label smoothing: TC's (fairseq 0.9) form on a hand example ------------------------------------

def test_tc_label_smoothing_on_a_hand_example():
    # logits (0, ln 2, ln 3, ln 4) over V = 4: p = (1, 2, 3, 4) / 10, target class 2, eps 0.2
    logits = torch.log(torch.tensor([[1.0, 2.0, 3.0, 4.0]]))
    target = torch.tensor([2])
    logp = [math.log(k / 10) for k in (1, 2, 3, 4)]
    nll = -logp[2]
    smooth = -sum(logp)
    by_hand_all = (1 - 0.2) * nll + 0.2 / 4 * smooth
    by_hand_others = (1 - 0.2 - 0.2 / 3) * nll + 0.2 / 3 * smooth
    loss_all, nll_all = label_smoothed_nll(logits, target, 0.2, ignore_index=None, smoothing_over="all")
    loss_others, _ = label_smoothed_nll(logits, target, 0.2, ignore_index=None, smoothing_over="others")
    assert nll_all.item() == pytest.approx(nll, rel=1e-6)
    assert loss_all.item() == pytest.approx(by_hand_all, rel=1e-6)
    assert loss_others.item() == pytest.approx(by_hand_others, rel=1e-6)
    assert abs(by_hand_all - by_hand_others) > 1e-3  # the two forms really differ here


def test_tc_label_smoothing_equals_torch_label_smoothing_and_ignores_pads():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(4, 6, 13, generator=g)
    target = torch.randint(2, 13, (4, 6), generator=g)
    target[1, 3:] = 1
    loss, _ = task_loss("label_smoothed_ce", 0.1, logits, target, 1, smoothing_over="all")
    ref = torch.nn.functional.cross_entropy(logits.reshape(-1, 13), target.reshape(-1), ignore_index=1,
                                            label_smoothing=0.1, reduction="sum")
    assert loss.item() == pytest.approx(ref.item(), rel=1e-5)


def test_unknown_smoothing_form_names_the_key():
    with pytest.raises(ValueError, match="loss.smoothing_over"):
        label_smoothed_nll(torch.zeros(2, 5), torch.tensor([0, 1]), 0.1, None, smoothing_over="uniform")


# ---- weight decay on every parameter, RAdam decaying on every step --------------------------------

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)
        self.norm = nn.LayerNorm(3)
        self.omega = nn.Parameter(torch.ones(3))


def test_decay_all_puts_every_parameter_in_one_decayed_group():
    cfg = OptimConfig(weight_decay=0.1, decay_all=True)
    groups = param_groups(Net(), cfg)
    assert len(groups) == 1 and groups[0]["weight_decay"] == 0.1
    assert set(groups[0]["names"]) == {"fc.weight", "fc.bias", "norm.weight", "norm.bias", "omega"}
    # default: biases, norms, omega excluded (timm/DeiT convention)
    default = {g["weight_decay"]: set(g["names"]) for g in param_groups(Net(), OptimConfig(weight_decay=0.1))}
    assert default[0.1] == {"fc.weight"}


def test_radam_decays_every_step_also_before_rectification():
    """Zero gradients: m = v = 0, so only the decay moves p: p_t = p_0 (1 - lr wd)^t from step 1."""
    lr, wd, b2 = 0.01, 0.5, 0.98
    p = nn.Parameter(torch.tensor([1.0, -2.0]))
    b = nn.Parameter(torch.tensor([3.0]))  # a bias-like 1-D parameter: decayed too under decay_all
    opt = build_optimizer(nn.ParameterList([p, b]), OptimConfig(name="radam", lr=lr, betas=(0.9, b2),
                                                                weight_decay=wd, decay_all=True),
                          torch.device("cpu"))
    assert isinstance(opt, RAdamTC)
    rho_inf = 2 / (1 - b2) - 1
    for t in range(1, 8):
        p.grad, b.grad = torch.zeros_like(p), torch.zeros_like(b)
        opt.step()
        factor = (1 - lr * wd) ** t
        torch.testing.assert_close(p.detach(), torch.tensor([1.0, -2.0]) * factor)
        torch.testing.assert_close(b.detach(), torch.tensor([3.0]) * factor)
    assert rho_inf - 2 * 1 * b2 / (1 - b2) < 5  # step 1 was unrectified, and decay still applied


# ---- decoder self-attention masks padded keys (fairseq) -------------------------------------------

def masked_reference(attn: Attention, x: torch.Tensor, pad: torch.Tensor) -> torch.Tensor:
    """Attention written out: scores q k^T / sqrt(dh), -inf where the key is future or padding."""
    b, t, d = x.shape
    h, dh = attn.heads, attn.head_dim
    q = attn.q_proj(x).view(b, t, h, dh).transpose(1, 2)
    k = attn.k_proj(x).view(b, t, h, dh).transpose(1, 2)
    v = attn.v_proj(x).view(b, t, h, dh).transpose(1, 2)
    s = q @ k.transpose(-1, -2) / math.sqrt(dh)
    blocked = torch.ones(t, t, dtype=torch.bool).triu(1)[None, None] | pad[:, None, None, :]
    o = torch.softmax(s.masked_fill(blocked, float("-inf")), -1) @ v
    return attn.out_proj(o.transpose(1, 2).reshape(b, t, d))


def test_causal_self_attention_masks_padded_keys_at_every_position():
    torch.manual_seed(0)
    attn = Attention(16, 4, causal=True).eval()
    x = torch.randn(3, 7, 16)
    pad = torch.zeros(3, 7, dtype=torch.bool)
    pad[0, 4:] = True
    pad[2, 6:] = True
    with torch.no_grad():
        out = attn(x, key_padding_mask=pad, query_padding_mask=pad)
        ref = masked_reference(attn, x, pad)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)  # padded positions included
    # a padded query must not see its own (padded) key: changing the pad embeddings after the
    # last real position changes nothing but those rows' own queries -> row 3 of batch 0 unchanged
    x2 = x.clone()
    x2[0, 4:] += 5.0
    with torch.no_grad():
        out2 = attn(x2, key_padding_mask=pad, query_padding_mask=pad)
    torch.testing.assert_close(out2[0, :4], out[0, :4])


def test_decoder_padded_positions_equal_the_probe_path():
    """The fused SDPA path and the explicit (probe) path agree on padded decoder positions too."""
    from models.probes import attention_entropy

    torch.manual_seed(0)
    model = build_model("translation", "translation_tiny", encoder_scheme="post_ln", src_vocab=V).eval()
    src = torch.randint(4, V, (3, 7))
    prev = torch.randint(4, V, (3, 6))
    src[0, 5:] = 1
    prev[1, 3:] = 1
    with torch.no_grad():
        fused = model(src, prev)
        probed = {}

        def run():
            probed["out"] = model(src, prev)
        attention_entropy(model, run)
    torch.testing.assert_close(fused, probed["out"], rtol=1e-5, atol=1e-5)


# ---- fairseq 0.12 init vs TC (fairseq 0.9) xavier init --------------------------------------------

def _model(init: str):
    torch.manual_seed(0)
    return build_model("translation", "transformer_iwslt_de_en", encoder_scheme="post_ln", src_vocab=V,
                       encoder_layers=1, decoder_layers=1, init=init)


def test_fairseq_init_keeps_pytorch_default_biases():
    model = _model("fairseq")
    d = model.size.embed_dim
    attn = model.encoder.layers[0].self_attn.fn.attn
    qkv_bias = torch.cat([attn.q_proj.bias, attn.k_proj.bias, attn.v_proj.bias]).detach()
    bound = 1 / math.sqrt(d)
    assert qkv_bias.abs().max() <= bound
    # U(-b, b): std b/sqrt(3); 3*512 draws put the sample std within a few percent
    assert qkv_bias.std().item() == pytest.approx(bound / math.sqrt(3), rel=0.1)
    assert torch.count_nonzero(attn.out_proj.bias) == 0  # fairseq zeroes out_proj's bias
    w = attn.q_proj.weight.detach()  # xavier, gain 1/sqrt(2), (d x d): bound sqrt(6/2d)/sqrt(2) = sqrt(1.5/d)
    assert w.abs().max() <= math.sqrt(1.5 / d) and w.abs().max() > 0.95 * math.sqrt(1.5 / d)
    ffn = model.encoder.layers[0].ffn.fn
    for lin in (ffn.fc1, ffn.fc2):  # PyTorch default: U(+-1/sqrt(fan_in)) for weight (a=sqrt 5) and bias
        b = 1 / math.sqrt(lin.in_features)
        assert lin.weight.abs().max() <= b and lin.bias.abs().max() <= b
        assert lin.bias.std().item() == pytest.approx(b / math.sqrt(3), rel=0.15)


def test_xavier_init_zeroes_every_bias():
    model = _model("xavier")
    for name, p in model.named_parameters():
        if name.endswith("bias") and "norm" not in name:
            assert torch.count_nonzero(p) == 0, name


# ---- the recipes name their choice ----------------------------------------------------------------

@pytest.mark.parametrize("recipe,init,form", [
    ("admin_iwslt", "xavier", "all"), ("admin_wmt_ende", "xavier", "all"), ("admin_wmt_enfr", "xavier", "all"),
    ("fairseq_iwslt", "fairseq", "others"),
])
def test_recipes_name_their_reference_code(recipe, init, form):
    with open("config/recipes.yaml") as f:
        r = yaml.safe_load(f)[recipe]
    assert r["model"]["overrides"]["init"] == init
    assert r["loss"]["smoothing_over"] == form
    assert r["optim"]["decay_all"] is True
