"""What every NumPy fast path shares: input checks, cotangent scales, chunks on threads.

NumPy ufuncs release the GIL, so two threads each running ufuncs over their own chunks
use two cores; the Python between ufunc calls is a small fraction of a chunk's time.
Chunks are handed out dynamically (the next free index), so a core that another process
slows down takes fewer of them, and the results come back in chunk order whatever the
scheduling: partial sums are added in the same order every run (deterministic).

``ARRAYLOSS_NUM_THREADS`` sets the number of threads (default: the CPUs this process
may use, at most 8); ``1`` runs everything in the calling thread.
"""

from __future__ import annotations

import functools
import itertools
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

import numpy as np

__all__ = [
    "cotangent_scale",
    "none_cotangent",
    "plain_float_arrays",
    "run_chunks",
    "thread_count",
]

T = TypeVar("T")

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def plain_float_arrays(*arrays: Any) -> bool:
    """True when every array is a C-contiguous ``np.ndarray`` of one float32/float64 dtype."""
    first = arrays[0]
    if type(first) is not np.ndarray or first.dtype not in _FLOATS:
        return False
    return all(
        type(a) is np.ndarray and a.dtype == first.dtype and a.flags.c_contiguous for a in arrays
    )


def cotangent_scale(cotangent: Any, denominator: float) -> float | None:
    """The scalar ``cotangent / denominator`` of a reduced loss, or None if not a scalar."""
    if cotangent is None:
        return 1.0 / denominator
    if isinstance(cotangent, (int, float)) and not isinstance(cotangent, bool):
        return float(cotangent) / denominator
    if type(cotangent) is np.ndarray and cotangent.shape == () and cotangent.dtype.kind == "f":
        return float(cotangent) / denominator
    return None


def none_cotangent(cotangent: Any, shape: tuple[int, ...], dtype: Any) -> Any:
    """The cotangent of ``reduction="none"``: 1.0, a float, a flat array, or None (unsupported)."""
    if cotangent is None:
        return 1.0
    scalar = cotangent_scale(cotangent, 1.0)
    if scalar is not None:
        return scalar
    if type(cotangent) is np.ndarray and cotangent.shape == shape and cotangent.dtype.kind == "f":
        return np.ascontiguousarray(cotangent, dtype=dtype).reshape(-1)
    return None


#: Below this many elements a call runs in the calling thread: the hand-off costs more.
PARALLEL_MIN_ELEMENTS = 1 << 19

_POOL: ThreadPoolExecutor | None = None
_POOL_SIZE = 0
_LOCK = threading.Lock()


def thread_count() -> int:
    """Threads the fast paths may use (``ARRAYLOSS_NUM_THREADS``, else the usable CPUs)."""
    text = os.environ.get("ARRAYLOSS_NUM_THREADS", "")
    if text.strip():
        try:
            return max(1, int(text))
        except ValueError:
            raise ValueError(
                f"ARRAYLOSS_NUM_THREADS={text!r} is not valid; it must be a positive integer"
            ) from None
    return _usable_cpus()


@functools.cache
def _usable_cpus() -> int:
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, 8))


def _pool(size: int) -> ThreadPoolExecutor:
    global _POOL, _POOL_SIZE
    with _LOCK:
        if _POOL is None or size > _POOL_SIZE:
            if _POOL is not None:
                _POOL.shutdown(wait=False)
            _POOL = ThreadPoolExecutor(max_workers=size, thread_name_prefix="arrayloss")
            _POOL_SIZE = size
        return _POOL


def _forget_pool() -> None:
    # A forked child has the pool object but not its threads.
    global _POOL, _POOL_SIZE
    _POOL = None
    _POOL_SIZE = 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def run_chunks(
    n: int, chunk: int, work: Callable[[int, int], T], *, work_size: int | None = None
) -> list[T]:
    """``[work(lo, hi) for each chunk [lo, hi) of range(n)]``, in order, on the pool.

    ``work_size`` is the number of array elements the whole call touches (default ``n``);
    small calls and single-chunk calls run in the calling thread.
    """
    count = -(-n // chunk) if n else 0
    size = n if work_size is None else work_size
    if count <= 1 or size < PARALLEL_MIN_ELEMENTS:
        return [work(lo, min(lo + chunk, n)) for lo in range(0, n, chunk)]
    threads = min(thread_count(), count)
    if threads <= 1:
        return [work(lo, min(lo + chunk, n)) for lo in range(0, n, chunk)]
    results: list[Any] = [None] * count
    indices = itertools.count()
    # NumPy's error state is per thread (a context variable): the pool's threads take
    # the caller's, so they warn or stay quiet exactly where the caller's thread would.
    errors = np.geterr()

    def worker() -> None:
        with np.errstate(**errors):
            # next() on itertools.count is atomic under the GIL: each index is taken once.
            for i in indices:
                if i >= count:
                    return
                lo = i * chunk
                results[i] = work(lo, min(lo + chunk, n))

    helpers: list[Future[None]] = [_pool(threads - 1).submit(worker) for _ in range(threads - 1)]
    try:
        worker()
    finally:
        for f in helpers:
            f.result()
    return results
