"""The generic `curves` figure kind (aggregate/figure.py) on the sigma_vit_entropy grid."""
import json

import matplotlib.lines
import pytest

from aggregate.figure import render
from catalog.experiment import run_ids
from catalog.runid import RunId
from experiments.registry import spec as load_spec


def fake_runs(results, scale="tiny"):
    spec = load_spec("sigma_vit_entropy")
    rids = run_ids(spec, scale)
    for k, rid in enumerate(map(RunId.parse, rids)):
        d = rid.run_dir(results, scale)
        d.mkdir(parents=True)
        recs = []
        for step in range(0, 50, 10):
            recs.append({"kind": "train", "step": step + 10, "loss": 2.3 - 0.01 * step * (k + 1) / 6})
            # 12 encoder layers, 4 heads; layer i's entropy falls with i and with the step
            recs.append({"kind": "probe", "step": step, "entropy": {
                f"encoder.{i}.self_attn": [3.0 - 0.1 * i - 0.01 * step * k] * 4 for i in range(12)}})
        diverged = rid.variant == "deit_b16_lr2x"
        (d / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
        (d / "status.json").write_text(json.dumps({"status": "diverged" if diverged else "ok", "step": 50,
                                                   "reason": "x" if diverged else ""}))
    return rids


def test_curves_panels_layers_styles_and_legend(tmp_path):
    rids = fake_runs(tmp_path)
    assert len(rids) == 6
    fig = render("sigma_vit_entropy", "tiny", str(tmp_path))
    axes = fig.axes
    titles = [a.get_title() for a in axes]
    assert titles[0].startswith("training loss") and len(axes) == 4
    assert [t.split("layer ")[1].split(" ")[0] for t in titles[1:]] == ["1", "6", "11"]
    for ax in axes:
        assert ax.get_xlabel() == "update" and ax.get_ylabel() == "nats"
    lines = [l for l in axes[2].get_lines() if len(l.get_xdata()) > 1]
    assert len(lines) == 6
    # one line style per scheme, one colour per setting (variant)
    styles = {l.get_linestyle() for l in lines}
    colours = {l.get_color() for l in lines}
    assert len(styles) == 2 and len(colours) == 6
    # the entropy of layer 6 is what the probe records hold for layer index 6 (mean over heads)
    first = lines[0]
    assert first.get_ydata()[0] == pytest.approx(3.0 - 0.6)
    legend = fig.legends[0]
    labels = [t.get_text() for t in legend.get_texts()]
    assert len(labels) == 6 and sum("(diverged)" in t for t in labels) == 1
    # the legend sits outside the data: to the right of every axes
    fig.canvas.draw()
    lx = legend.get_window_extent().x0
    assert all(lx >= a.get_window_extent().x1 - 1 for a in axes)
    assert any(isinstance(h, matplotlib.lines.Line2D) for h in legend.legend_handles)


def test_curves_falls_back_to_the_layers_a_small_model_has(tmp_path):
    from aggregate.figure import _entropy_layers

    assert _entropy_layers([1, 6, 11], list(range(12))) == [1, 6, 11]
    assert _entropy_layers([1, 6, 11], [0, 1]) == [0, 1]
    assert _entropy_layers([1, 6, 11], [0, 1, 2, 3]) == [0, 2, 3]
