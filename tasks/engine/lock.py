"""One training process per run directory: an OS file lock on RUN_DIR/.lock.

Two `tasks.train` on the same directory (a requeued SLURM job overlapping the old one, a
hand-started copy next to the workflow's) would otherwise "resume" from each other's
checkpoints and interleave their metrics. `acquire(run_dir)` takes `fcntl.flock(LOCK_EX |
LOCK_NB)` on RUN_DIR/.lock and keeps the file open for the life of the process: the kernel
drops the lock when the process ends, however it ends (SIGKILL included), so a stale lock
never blocks a restart. The holder writes "pid host" into the file, so that a refused
process can name it.

A forked child (a DataLoader worker) shares the parent's open file and would keep the lock
alive after the trainer itself was killed; `os.register_at_fork` closes the child's copy of
the descriptor (a plain close: unlocking there would unlock the parent too).

flock locks are advisory and per open file: they hold between processes on one machine and,
on NFSv4/Lustre/GPFS mounts that support them, across nodes. On a file system without lock
support flock raises OSError (ENOLCK), reported as a clear error rather than ignored.
"""
from __future__ import annotations

import errno
import fcntl
import os
import socket
from pathlib import Path

LOCK_NAME = ".lock"
_HELD: dict[str, "RunLock"] = {}  # realpath of the run dir -> its lock, kept alive with the process


class RunLocked(RuntimeError):
    """Another live process holds the lock of this run directory."""


class RunLock:
    def __init__(self, run_dir: Path, fd: int):
        self.run_dir, self.fd = run_dir, fd

    def release(self) -> None:
        if self.fd >= 0:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = -1
            _HELD.pop(os.path.realpath(self.run_dir), None)


def _forget_in_child() -> None:
    for lock in list(_HELD.values()):
        if lock.fd >= 0:
            os.close(lock.fd)
            lock.fd = -1
    _HELD.clear()


os.register_at_fork(after_in_child=_forget_in_child)


def holder(run_dir: Path) -> str:
    """'pid P on host H' as written by the holder, or a note that the file names nobody."""
    try:
        text = (Path(run_dir) / LOCK_NAME).read_text().split()
    except OSError:
        text = []
    if len(text) >= 2:
        return f"pid {text[0]} on host {text[1]}"
    return "a process that has not yet written its pid"


def acquire(run_dir: Path) -> RunLock:
    """Lock `run_dir` for this process (idempotent within a process); RunLocked if another holds it."""
    run_dir = Path(run_dir)
    key = os.path.realpath(run_dir)
    if key in _HELD:
        return _HELD[key]
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / LOCK_NAME
    # O_CREAT without O_TRUNC: truncating before we hold the lock would erase the holder's pid.
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        os.close(fd)
        if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            raise RunLocked(f"{run_dir} is being trained by another process ({holder(run_dir)}; lock file "
                            f"{path}); refusing to start a second one. Wait for it to end, or stop it "
                            "first") from None
        raise OSError(e.errno, f"{path}: cannot take the run directory lock ({e.strerror}); the file "
                               "system must support flock so that two trainings cannot share a run") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()} {socket.gethostname()}\n".encode(), 0)
    os.fsync(fd)
    lock = RunLock(run_dir, fd)
    _HELD[key] = lock
    return lock
