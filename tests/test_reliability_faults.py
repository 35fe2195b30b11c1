"""Issue 10: a small `python -m bench.faults` (a SIGKILL inside the epoch-end checkpoint write,
SIGTERM and SIGINT at random updates, two concurrent starts, a corrupt last checkpoint): every
case must end exactly like the uninterrupted run. 11 process starts, 2 at a time (~40 s of CPU)."""
import re

from bench.faults import CKPT_EVERY, main


def test_small_fault_injection_run_is_all_identical(tmp_path, capsys):
    rc = main(["--trials", "3", "--concurrent", "1", "--corrupt", "1", "--seed", "0", "--jobs", "2",
               "--workdir", str(tmp_path)])
    out = capsys.readouterr().out
    last = out.strip().splitlines()[-1]
    m = re.fullmatch(r"faults: (\d+)/3 resumed identically, max lost updates (\d+), concurrent starts refused "
                     r"(\d+)/1, corrupt-checkpoint cases handled (\d+)/1", last)
    assert m, out
    assert (m.group(1), m.group(3), m.group(4)) == ("3", "1", "1"), out
    assert int(m.group(2)) <= CKPT_EVERY, out
    assert rc == 0, out
