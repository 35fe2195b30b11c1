"""Batches respect the token budget, are deterministic and cover every example once."""
import numpy as np
import pytest

from tasks.engine.batching import epoch_order, make_batches, pad_right


def test_token_budget_and_coverage():
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 50, size=500)
    batches = make_batches(lengths, max_tokens=200, seed=3)
    for b in batches:
        assert lengths[b].max() * len(b) <= 200
    allidx = np.sort(np.concatenate(batches))
    assert np.array_equal(allidx, np.arange(500))
    again = make_batches(lengths, max_tokens=200, seed=3)
    assert all(np.array_equal(a, b) for a, b in zip(batches, again))
    other = make_batches(lengths, max_tokens=200, seed=4)
    assert any(not np.array_equal(a, b) for a, b in zip(batches, other))  # ties shuffled by seed


def test_max_sentences():
    batches = make_batches([3] * 20, max_tokens=1000, max_sentences=6)
    assert [len(b) for b in batches] == [6, 6, 6, 2]


def test_too_long_example_is_named():
    with pytest.raises(ValueError, match=r"example 2 has 300 tokens, more than batching.max_tokens=100"):
        make_batches([5, 6, 300], max_tokens=100)


def test_epoch_order_is_seeded_per_epoch():
    a, b = epoch_order(50, seed=1, epoch=1), epoch_order(50, seed=1, epoch=2)
    assert sorted(a) == list(range(50)) and not np.array_equal(a, b)
    assert np.array_equal(a, epoch_order(50, seed=1, epoch=1))


def test_pad_right():
    assert pad_right([[5, 6, 7], [8]], pad=1).tolist() == [[5, 6, 7], [8, 1, 1]]
