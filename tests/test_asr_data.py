"""LibriSpeech reading, features and preparation (tasks.asr): real layouts, clear errors."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import soundfile as sf

from tasks.asr import librispeech as ls
from tasks.asr import make_tiny, prepare, vocab
from tasks.asr.dataset import FeatureSplit
from tasks.asr.features import fbank, n_frames, spec_augment

SPLITS = ("train-clean-100",) + ls.EVAL_SPLITS


def write_split(root, split, utts, rate=16000, seed=0):
    """A LibriSpeech-layout split: utts = {(spk, ch): [text, ...]} -> FLAC files + trans.txt."""
    rng = np.random.default_rng(seed)
    spk_cfg = make_tiny.speaker(rng, other=False)
    for (spk, ch), texts in utts.items():
        d = root / "LibriSpeech" / split / str(spk) / str(ch)
        d.mkdir(parents=True, exist_ok=True)
        lines = []
        for u, text in enumerate(texts):
            utt = f"{spk}-{ch}-{u:04d}"
            audio = make_tiny.speak(text.lower(), spk_cfg, rng)
            sf.write(d / f"{utt}.flac", audio, rate, format="FLAC", subtype="PCM_16")
            lines.append(f"{utt} {text.upper()}\n")
        (d / f"{spk}-{ch}.trans.txt").write_text("".join(lines))


@pytest.fixture(scope="module")
def tiny_raw(tmp_path_factory):
    root = tmp_path_factory.mktemp("raw")
    for i, split in enumerate(SPLITS):
        write_split(root, split, {(10 + i, 100 + i): ["ab cd", "the cat's hat", "zz top"]}, seed=i)
    return root


def test_vocabulary_round_trip():
    assert len(vocab.LABELS) == 29 and vocab.LABELS[vocab.BLANK] == "<blank>"
    for text in ["HELLO WORLD", "IT'S A  TEST", "a"]:
        ids = vocab.encode(text)
        assert vocab.BLANK not in ids
        assert vocab.decode(ids) == vocab.normalize(text)
    ids = vocab.encode("ab c")
    assert list(ids) == [vocab.INDEX["a"], vocab.INDEX["b"], vocab.SEP, vocab.INDEX["c"]]
    assert vocab.ctc_min_frames(vocab.encode("hello")) == 6  # "ll" needs a blank between
    with pytest.raises(ValueError, match="not in the letter vocabulary"):
        vocab.encode("caf\u00e9")


def test_prepared_features_equal_direct_fbank(tiny_raw, tmp_path):
    meta = prepare.prepare("librispeech", tiny_raw, tmp_path / "data", workers=1, dtype="float32")
    assert sorted(meta["splits"]) == sorted(SPLITS)
    split = FeatureSplit(tmp_path / "data", "dev-other")
    i = split.ids.index("12-102-0001")
    audio, rate = sf.read(tiny_raw / "LibriSpeech/dev-other/12/102/12-102-0001.flac", dtype="float32")
    direct = fbank(audio, rate)
    assert direct.shape == (n_frames(len(audio)), 80)
    np.testing.assert_array_equal(np.asarray(split.feats(i)), direct)
    assert split.texts[i] == "the cat's hat"
    assert vocab.decode(split.targets[i]) == "the cat's hat"
    assert int(split.samples[i]) == len(audio)


def test_tarballs_read_like_the_tree(tiny_raw, tmp_path):
    make = tmp_path / "tars"
    make.mkdir()
    for split in SPLITS:  # the OpenSLR tarballs hold LibriSpeech/<split>/...
        shutil.make_archive(str(make / split), "gztar", root_dir=tiny_raw, base_dir=f"LibriSpeech/{split}")
    a = prepare.prepare("librispeech", make, tmp_path / "a", dtype="float16")
    b = prepare.prepare("librispeech", tiny_raw, tmp_path / "b", dtype="float16")
    assert a["splits"] == b["splits"]
    sa, sb = FeatureSplit(tmp_path / "a", "test-clean"), FeatureSplit(tmp_path / "b", "test-clean")
    assert sa.ids == sb.ids and sa.texts == sb.texts
    for i in range(len(sa)):
        np.testing.assert_array_equal(np.asarray(sa.feats(i)), np.asarray(sb.feats(i)))


def test_generated_data_is_real_librispeech_layout(tmp_path):
    make_tiny.write(tmp_path, "tiny", "tree")
    flacs = sorted((tmp_path / "LibriSpeech/dev-clean").rglob("*.flac"))
    assert flacs and all(sf.info(f).samplerate == 16000 and sf.info(f).format == "FLAC" for f in flacs[:5])
    trans = sorted((tmp_path / "LibriSpeech/dev-clean").rglob("*.trans.txt"))
    first = trans[0].read_text().splitlines()[0]
    assert first.split(" ", 1)[1] == first.split(" ", 1)[1].upper()
    # the alphabet: 27 distinct five-tone chords, pairwise at least 3 regions apart
    assert len(set(make_tiny.CODE)) == 27
    assert min(sum(x != y for x, y in zip(a, b)) for a in make_tiny.CODE for b in make_tiny.CODE if a != b) >= 3


def _copy(tiny_raw, tmp_path):
    raw = tmp_path / "raw"
    shutil.copytree(tiny_raw, raw)
    return raw


def test_truncated_flac_is_a_clear_error(tiny_raw, tmp_path):
    raw = _copy(tiny_raw, tmp_path)
    f = raw / "LibriSpeech/dev-clean/11/101/11-101-0002.flac"
    f.write_bytes(f.read_bytes()[: len(f.read_bytes()) // 2])
    with pytest.raises(ls.LibriSpeechError, match=r"11-101-0002\.flac.*truncated"):
        prepare.prepare("librispeech", raw, tmp_path / "out", splits=["dev-clean"])
    assert not (tmp_path / "out/dev-clean").exists()  # nothing half-written under the final name


def test_transcript_id_without_audio_is_a_clear_error(tiny_raw, tmp_path):
    raw = _copy(tiny_raw, tmp_path)
    (raw / "LibriSpeech/dev-clean/11/101/11-101-0001.flac").unlink()
    with pytest.raises(ls.LibriSpeechError, match="transcript id 11-101-0001 has no audio"):
        prepare.prepare("librispeech", raw, tmp_path / "out", splits=["dev-clean"])


def test_transcript_line_of_another_file_is_a_clear_error(tiny_raw, tmp_path):
    raw = _copy(tiny_raw, tmp_path)
    t = raw / "LibriSpeech/dev-clean/11/101/11-101.trans.txt"
    t.write_text(t.read_text().replace("11-101-0002", "11-999-0002"))
    with pytest.raises(ls.LibriSpeechError, match=r"11-101\.trans\.txt:3: utterance 11-999-0002 does not belong"):
        prepare.prepare("librispeech", raw, tmp_path / "out", splits=["dev-clean"])


def test_wrong_sample_rate_and_missing_split_are_clear_errors(tiny_raw, tmp_path):
    raw = _copy(tiny_raw, tmp_path)
    f = raw / "LibriSpeech/dev-clean/11/101/11-101-0000.flac"
    audio, _ = sf.read(f, dtype="float32")
    sf.write(f, audio, 8000, format="FLAC", subtype="PCM_16")
    with pytest.raises(ls.LibriSpeechError, match="sample rate 8000 Hz"):
        prepare.prepare("librispeech", raw, tmp_path / "out", splits=["dev-clean"])
    shutil.rmtree(raw / "LibriSpeech/test-other")
    with pytest.raises(ls.LibriSpeechError, match="split 'test-other' not found.*test-other.tar.gz"):
        prepare.prepare("librispeech", raw, tmp_path / "out2")


def test_truncated_feature_file_is_a_clear_error(tiny_raw, tmp_path):
    prepare.prepare("librispeech", tiny_raw, tmp_path / "d", splits=["dev-clean"])
    meta = json.loads((tmp_path / "d/meta.json").read_text())
    assert meta["splits"]["dev-clean"]["utterances"] == 3
    f = tmp_path / "d/dev-clean/feats.bin"
    f.write_bytes(f.read_bytes()[:-10])
    with pytest.raises(ValueError, match="feats.bin.*truncated"):
        FeatureSplit(tmp_path / "d", "dev-clean")


def test_spec_augment_masks_within_bounds_and_is_seeded():
    x = np.random.default_rng(0).normal(5.0, 1.0, size=(300, 80)).astype(np.float32)
    a = spec_augment(x, np.random.default_rng(1))
    b = spec_augment(x, np.random.default_rng(1))
    np.testing.assert_array_equal(a, b)
    fill = float(x.mean())
    masked_t = np.all(a == fill, axis=1)
    assert 0 < masked_t.sum() <= 10 * 30  # 10 masks, each <= min(50, 0.1 * 300) frames
    masked_f = np.all(a == fill, axis=0)
    assert masked_f.sum() <= 2 * 30
    assert np.array_equal(a[~masked_t][:, ~masked_f], x[~masked_t][:, ~masked_f])


def test_truncated_tarball_is_a_clear_error(tiny_raw, tmp_path):
    shutil.make_archive(str(tmp_path / "dev-clean"), "gztar", root_dir=tiny_raw, base_dir="LibriSpeech/dev-clean")
    tar = tmp_path / "dev-clean.tar.gz"
    tar.write_bytes(tar.read_bytes()[: tar.stat().st_size * 2 // 3])
    with pytest.raises(ls.LibriSpeechError, match=r"dev-clean\.tar\.gz.*(truncated|corrupt)"):
        prepare.prepare("librispeech", tmp_path, tmp_path / "out", splits=["dev-clean"])
