"""NumPy fast path of ``kl_div`` (``log_target=False``): one chunked pass.

Per element the kernel's ``t * log_or(t) - t * input`` (``log_or``: ``log t`` for
``t > 0``, 0 at ``t = 0``) and the gradient ``-cot * t``; the three ``where`` of
``log_or`` become one masked ``log`` when no target is negative or NaN (checked once,
else the row-chunked kernel runs).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import register
from .numpy_regression import elementwise
from .numpy_rows import rows_fast_path

__all__: list[str] = []

Array = np.ndarray


def _kl_chunk(q: Array, t: Array, g: Array, loss: Array | None, s: Any) -> float:
    log_t = np.log(t, out=np.zeros_like(t), where=t > 0)
    log_t *= t
    value = np.multiply(t, q, out=loss if loss is not None else None)
    np.subtract(log_t, value, out=value)
    total = 0.0 if loss is not None else float(np.add.reduce(value))
    if s is not None:
        np.multiply(t, s, out=g)
        np.negative(g, out=g)
    return total


@register("kl_div", "numpy")
def kl_div(problem: Any, wrt: tuple[str, ...], cotangent: Any) -> Any:
    target = problem.arrays[1]
    if (
        problem.options.get("log_target")
        or type(target) is not np.ndarray
        or not np.all(target >= 0)  # also False for NaN
    ):
        return rows_fast_path(problem, wrt, cotangent)
    return elementwise(problem, wrt, cotangent, _kl_chunk, negated_second=False)
