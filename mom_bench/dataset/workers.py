"""The start of a build's decoding processes: they exit as soon as the build process is gone.

A build killed with kill -9 cannot shut its process pool down, and a spawned worker blocked on its task
queue (or busy with a long song) would otherwise live on, holding a few hundred MB each, with
multiprocessing's resource tracker waiting for them. This module is what a worker imports first, and it
imports nothing heavy, so the watch starts before the worker spends seconds importing torch.
"""
from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time

_PR_SET_PDEATHSIG = 1
#: How often a worker checks that the build process is still its parent.
POLL_S = 0.5


def start(parent: int) -> None:
    """Initializer of a decoding process whose build process is ``parent``."""
    if sys.platform.startswith("linux"):
        try:  # the kernel kills this process when its parent dies
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        except (OSError, AttributeError):
            pass
    # Everywhere, and for a parent that died before prctl above: watch for being re-parented.
    threading.Thread(target=_watch, args=(parent,), name="watch-parent", daemon=True).start()
    from mom_bench.dataset.process import worker_init  # torch: imported once the watch runs

    worker_init()


def _watch(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(POLL_S)
    os._exit(1)
