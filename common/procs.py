"""Worker processes for data preparation: started with `spawn`, never `fork`.

A forked child inherits the parent's locks in whatever state the parent's other threads left
them (torch's thread pools, a test runner's I/O threads) and can wait on one forever: measured,
a forked image-check pool hung a test run. `spawn` starts each worker as a fresh interpreter that
imports what it needs; the functions given to a pool must be module-level (picklable).
"""
from __future__ import annotations

import multiprocessing
from multiprocessing.context import BaseContext


def context() -> BaseContext:
    """The multiprocessing context every pool of the suite uses (`.Pool(...)`, or `mp_context=`)."""
    return multiprocessing.get_context("spawn")
