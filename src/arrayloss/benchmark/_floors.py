"""The physical floors, measured in the benchmark's own process before any workload.

* copy bandwidth: bytes moved (read + written) per second by a 256 MB ``np.copyto``
  into a buffer that is already paged in - the most a memory-bound pass can reach;
* fresh-copy bandwidth: the same copy into a new array (``x.copy()``), which also pays
  for the kernel handing out and zeroing fresh pages, as every function returning a new
  gradient does;
* ``exp`` throughput: float32 elements per second of ``np.exp`` over 64 MB, out of
  cache, one thread (NumPy's own speed for the one transcendental every softmax needs).

A workload's floor is ``max(bytes / copy bandwidth, exps / exp throughput)``. On a GPU
the same three are measured with CuPy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ._timing import Budget, measure

__all__ = ["Floors", "measure_cpu_floors", "measure_gpu_floors"]


@dataclass(frozen=True)
class Floors:
    """Bandwidth (bytes/s, read + write), fresh-copy bandwidth and exp rate (elements/s)."""

    device: str
    copy_bandwidth: float
    fresh_copy_bandwidth: float
    exp_rate: float

    def floor(self, bytes_moved: float, exps: float = 0.0) -> tuple[float, str]:
        """The floor in seconds and which limit sets it (``"bandwidth"`` or ``"exp"``)."""
        memory = bytes_moved / self.copy_bandwidth
        compute = exps / self.exp_rate if exps else 0.0
        return (memory, "bandwidth") if memory >= compute else (compute, "exp")


def measure_cpu_floors(copy_bytes: int = 256 << 20, exp_bytes: int = 64 << 20) -> Floors:
    budget = Budget(min_repeats=5, max_repeats=15, min_seconds=0.3)
    src = np.ones(copy_bytes // 4, dtype=np.float32)
    dst = np.zeros_like(src)
    copy = measure(lambda: np.copyto(dst, src), budget)
    fresh = measure(src.copy, budget)
    x = np.linspace(-10.0, 10.0, exp_bytes // 4, dtype=np.float32)
    out = np.zeros_like(x)
    exp = measure(lambda: np.exp(x, out=out), budget)
    return Floors(
        device="cpu",
        copy_bandwidth=2 * src.nbytes / copy.median,
        fresh_copy_bandwidth=2 * src.nbytes / fresh.median,
        exp_rate=x.size / exp.median,
    )


def measure_gpu_floors(copy_bytes: int = 1 << 30) -> Floors:
    import cupy

    from ._timing import cuda_timer

    budget = Budget(min_repeats=10, max_repeats=50, min_seconds=0.2)
    src = cupy.ones(copy_bytes // 4, dtype=cupy.float32)
    dst = cupy.zeros_like(src)
    copy = measure(lambda: cupy.copyto(dst, src), budget, timer=cuda_timer)
    fresh = measure(src.copy, budget, timer=cuda_timer)
    out = cupy.zeros_like(src)
    exp = measure(lambda: cupy.exp(src, out=out), budget, timer=cuda_timer)
    name: Any = cupy.cuda.runtime.getDeviceProperties(0)["name"]
    return Floors(
        device=name.decode() if isinstance(name, bytes) else str(name),
        copy_bandwidth=2 * src.nbytes / copy.median,
        fresh_copy_bandwidth=2 * src.nbytes / fresh.median,
        exp_rate=src.size / exp.median,
    )
