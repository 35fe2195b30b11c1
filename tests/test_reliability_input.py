"""Issue 10, bad input is loud: a corpus in the wrong encoding, a malformed status.json or
reference CSV name the file and what was expected (no silent U+FFFD, no raw traceback)."""
import gzip
import io
import json
import tarfile

import pytest

from tasks.translation.raw import RawDataError, iter_lines, iwslt_members, read_iwslt_archive

LATIN1 = "Guten Tag\nDas ist schön\n".encode("latin-1")  # ö = 0xF6: not UTF-8


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_a_latin1_corpus_names_the_file_line_and_byte_offset(tmp_path, suffix):
    """Issue 10 item 5: errors="replace" turned every ö into a U+FFFD dictionary entry."""
    path = tmp_path / f"train.de{suffix}"
    path.write_bytes(gzip.compress(LATIN1) if suffix else LATIN1)
    with pytest.raises(RawDataError) as e:
        list(iter_lines(path))
    msg = str(e.value)
    assert str(path) in msg and "line 2" in msg and "byte offset 21" in msg and "UTF-8" in msg


def test_valid_utf8_is_read_unchanged(tmp_path):
    path = tmp_path / "train.en"
    path.write_bytes("schön\r\nzwei\u2028drei\nlast".encode())
    assert list(iter_lines(path)) == ["schön\r", "zwei\u2028drei", "last"]  # split on \n only


def test_an_iwslt_archive_member_in_latin1_is_named(tmp_path):
    archive = tmp_path / "de-en.tgz"
    with tarfile.open(archive, "w:gz") as tar:
        for name in iwslt_members():
            data = LATIN1 if name.endswith("train.tags.de-en.de") else b"ok\n"
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    with pytest.raises(RawDataError, match=r"train\.tags\.de-en\.de: invalid UTF-8 at line 2, byte offset 21"):
        read_iwslt_archive(archive)


@pytest.mark.parametrize("text,expected", [
    ("{", "not valid JSON"), ("[]", "expected a JSON object"), ('{"status": "ok"}', "missing key(s) ['step', 'reason']"),
    ('{"status": "done", "step": 3, "reason": ""}', "status 'done'"),
])
def test_a_malformed_status_json_names_the_file_and_the_expected_form(tmp_path, text, expected):
    from catalog.runs import read_status

    path = tmp_path / "status.json"
    path.write_text(text)
    with pytest.raises(ValueError) as e:
        read_status(path)
    assert str(path) in str(e.value) and expected in str(e.value)


def test_a_good_status_json_is_returned(tmp_path):
    from catalog.runs import read_status

    path = tmp_path / "status.json"
    path.write_text(json.dumps({"status": "diverged", "step": 7, "reason": "exploding loss"}))
    assert read_status(path)["step"] == 7


@pytest.mark.parametrize("text,expected", [
    ("", "empty file"), ("table,metric\nT1,BLEU\n", "missing column(s) ['value']"),
    ('table,metric,value\n"T1,BLEU,1\n', "not a readable CSV"),
])
def test_a_malformed_reference_csv_names_the_file_and_the_columns(tmp_path, text, expected):
    from aggregate.io import read_csv

    path = tmp_path / "xiong2020.csv"
    path.write_text(text)
    with pytest.raises(ValueError) as e:
        read_csv(path, "a reference CSV", columns=("table", "metric", "value"))
    assert str(path) in str(e.value) and expected in str(e.value)
    if "missing" in expected:
        assert "found ['table', 'metric']" in str(e.value)
