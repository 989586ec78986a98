"""Timing and memory of one implementation: warm-up, repeated runs, percentiles, peak bytes.

Every runner is a zero-argument callable doing one value-and-gradient evaluation and
returning its outputs. ``sync`` waits for them: ``jax.block_until_ready`` for JAX,
nothing for NumPy and PyTorch CPU. CuPy runs are timed with CUDA events instead of the
host clock (:func:`cuda_timer`).
"""

from __future__ import annotations

import gc
import statistics
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["Budget", "Timing", "measure", "peak_memory"]

Runner = Callable[[], Any]


@dataclass(frozen=True)
class Budget:
    """How long to measure one implementation."""

    min_repeats: int
    max_repeats: int
    min_seconds: float


@dataclass(frozen=True)
class Timing:
    """Seconds per call: the first (compile and warm-up included) and the timed runs."""

    first: float
    samples: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    def percentile(self, q: float) -> float:
        ordered = sorted(self.samples)
        if len(ordered) == 1:
            return ordered[0]
        pos = q * (len(ordered) - 1)
        lo = int(pos)
        hi = min(lo + 1, len(ordered) - 1)
        return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def _no_sync(result: Any) -> None:
    return None


def measure(
    run: Runner,
    budget: Budget,
    *,
    sync: Callable[[Any], None] = _no_sync,
    timer: Callable[[Runner, Callable[[Any], None], int], float] | None = None,
    batch: int = 1,
) -> Timing:
    """Time ``run``: one first call, one warm-up, then at least ``min_repeats`` samples.

    A sample is ``batch`` back-to-back calls divided by ``batch`` (for calls of a few
    microseconds). Sampling stops after ``max_repeats`` samples or once ``min_repeats``
    samples (3 when the first call took over a second) took ``min_seconds`` together.
    """
    clock = timer or _host_timer
    first = clock(run, sync, 1)
    clock(run, sync, batch)
    # a call of seconds (a slow peer at full size) gets the fewest samples that still
    # give a median and percentiles
    least = 3 if first > 1.0 else budget.min_repeats
    samples: list[float] = []
    spent = 0.0
    while len(samples) < budget.max_repeats:
        seconds = clock(run, sync, batch)
        samples.append(seconds / batch)
        spent += seconds
        if len(samples) >= min(least, budget.min_repeats) and spent >= budget.min_seconds:
            break
    return Timing(first=first, samples=tuple(samples))


def _host_timer(run: Runner, sync: Callable[[Any], None], calls: int) -> float:
    gc.collect()
    start = time.perf_counter()
    result = None
    for _ in range(calls):
        result = run()
    sync(result)
    return time.perf_counter() - start


def cuda_timer(run: Runner, sync: Callable[[Any], None], calls: int) -> float:
    """Seconds of ``calls`` runs between two CUDA events on the current stream."""
    import cupy

    start = cupy.cuda.Event()
    end = cupy.cuda.Event()
    start.record()
    for _ in range(calls):
        run()
    end.record()
    end.synchronize()
    return float(cupy.cuda.get_elapsed_time(start, end)) / 1000.0


def peak_memory(run: Runner, kind: str | None) -> int | None:
    """Peak bytes allocated by one call beyond what was allocated before it.

    ``kind``: ``"host"`` (tracemalloc, which sees NumPy's buffers), ``"cupy"`` (a CuPy
    memory hook on the pool's allocations), ``"jax"`` (the device's ``memory_stats``),
    ``"torch-cuda"`` (PyTorch's peak-allocated counter), or None (not measurable:
    PyTorch CPU, JAX on the CPU).
    """
    if kind == "host":
        return _tracemalloc_peak(run)
    if kind == "cupy":
        return _cupy_peak(run)
    if kind == "jax":
        return _jax_peak(run)
    if kind == "torch-cuda":
        return _torch_cuda_peak(run)
    return None


def _torch_cuda_peak(run: Runner) -> int:
    import torch

    torch.cuda.synchronize()
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    result = run()
    torch.cuda.synchronize()
    peak = torch.cuda.max_memory_allocated()
    del result
    return max(0, peak - base)


def _tracemalloc_peak(run: Runner) -> int:
    gc.collect()
    already = tracemalloc.is_tracing()
    if not already:
        tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base, _ = tracemalloc.get_traced_memory()
        result = run()
        _, peak = tracemalloc.get_traced_memory()
        del result
    finally:
        if not already:
            tracemalloc.stop()
    return max(0, peak - base)


def _cupy_peak(run: Runner) -> int:
    import cupy

    class PeakHook(cupy.cuda.MemoryHook):  # type: ignore[misc]
        name = "arrayloss_peak"

        def __init__(self) -> None:
            self.current = 0
            self.peak = 0

        def malloc_postprocess(self, **kw: Any) -> None:
            self.current += kw["mem_size"]
            self.peak = max(self.peak, self.current)

        def free_postprocess(self, **kw: Any) -> None:
            self.current -= kw["mem_size"]

    cupy.cuda.Device().synchronize()
    hook = PeakHook()
    with hook:
        result = run()
        cupy.cuda.Device().synchronize()
    del result
    return max(0, hook.peak)


def _jax_peak(run: Runner) -> int | None:
    import jax

    device = jax.devices()[0]
    stats = device.memory_stats()
    if not stats or "peak_bytes_in_use" not in stats:
        return None
    before = stats["bytes_in_use"]
    peak_before = stats["peak_bytes_in_use"]
    result = run()
    jax.block_until_ready(result)
    after = device.memory_stats() or {}
    del result
    peak = after.get("peak_bytes_in_use", peak_before)
    if peak <= peak_before:
        # the process's peak was set earlier; the call's own peak is hidden behind it
        return max(0, after.get("bytes_in_use", before) - before) or None
    return peak - before
