"""A new scheme is one entry of models.scheme.SCHEMES: resolve, build, profile and train need nothing else."""
import pytest

from models.scheme import SCHEMES, Scheme


@pytest.fixture
def extra_scheme(monkeypatch):
    # An Admin-like scheme under a new name: every consumer must read its properties.
    s = Scheme("omega_post_ln", pre_norm=False, post_norm=True, final_norm=False, admin_omega=True,
               sigma_reparam=False)
    monkeypatch.setitem(SCHEMES, s.name, s)
    return s.name


def test_a_registered_scheme_resolves_profiles_and_trains(extra_scheme, tmp_path):
    from tasks.admin_profile import profile
    from tasks.config import RunConfig
    from tasks.engine.loop import train
    from tasks.resolve import resolve

    rid = f"translation/iwslt14_de_en/transformer_iwslt_de_en-2L-2L/{extra_scheme}/admin_iwslt/seed1"
    resolved = resolve("tiny", rid, results=str(tmp_path))
    assert resolved["model"]["omega"].endswith("omega.json")  # the omega step is planned by property
    cfg = RunConfig.from_dict({
        "task": "toy", "seed": 3, "batching": {"max_tokens": 256},
        "model": {"family": "translation", "size": "translation_tiny", "encoder_scheme": extra_scheme,
                  "decoder_scheme": extra_scheme, "omega": str(tmp_path / "omega.json")},
        "optim": {"name": "adam", "lr": 1e-3}, "schedule": {"name": "constant", "warmup_updates": 0},
        "train": {"max_updates": 3, "log_every": 1, "precision": "fp32"}, "probes": {"every": 1},
    })
    omega = profile(cfg, tmp_path / "omega.json")
    assert set(omega) == {"encoder", "decoder"} and len(omega["encoder"]) == 4 and len(set(omega["encoder"])) > 1
    assert train(cfg, tmp_path / "run") == 0
    assert '"omega"' in (tmp_path / "run" / "metrics.jsonl").read_text()  # probes saw the omega by property
