"""NumPy fast path of ``binary_cross_entropy_with_logits``: one chunked pass, two
transcendentals per element.

The generic kernel evaluates ``softplus(x)`` and ``softplus(-x)`` (a ``logaddexp`` each)
and ``sigmoid(x)`` and ``sigmoid(-x)`` (an ``exp`` each): six transcendental functions
per element. All four are made of ``e = exp(-|x|)`` and ``log1p(e)``, so the fused pass
computes those two once per chunk and builds the value and the gradient from them with
the kernel's own formulas (``logaddexp(0, x) = max(x, 0) + log1p(e)``,
``sigmoid(x) = 1/(1+e)`` or ``e/(1+e)`` by the sign of ``x``): the same operations, so
the same numbers. Covered: no ``pos_weight``, ``weight`` or ``where``, ``logits`` and
``target`` of one shape, gradient of ``logits``; otherwise the row-chunked kernel runs.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import register
from .numpy_regression import elementwise

__all__: list[str] = []

Array = np.ndarray


def _bce_logits_chunk(x: Array, y: Array, g: Array, loss: Array | None, s: Any) -> float:
    # NumPy's maximum and where are slow with a scalar or a random mask (no SIMD, a
    # branch per element): the maxima take an array of zeros, and the sign selections
    # are products with 0/1 masks, exact for the finite values they select between.
    zeros = np.zeros_like(x)
    e = np.abs(x)
    np.negative(e, out=e)
    np.exp(e, out=e)
    log_term = np.log1p(e)
    not_y = np.subtract(1, y, dtype=x.dtype)
    # (1 - y) softplus(x) + y softplus(-x), softplus(+-x) = max(+-x, 0) + log1p(e)
    positive = np.maximum(x, zeros)
    positive += log_term
    positive *= not_y
    negative = np.negative(x)
    np.maximum(negative, zeros, out=negative)
    negative += log_term
    negative *= y
    value = np.add(positive, negative, out=positive if loss is None else loss)
    total = 0.0 if loss is not None else float(np.add.reduce(value))
    if s is None:
        return total
    # (1 - y) sigmoid(x) - y sigmoid(-x), each sigmoid 1/(1+e) or e/(1+e) by sign
    one_plus = np.add(e, 1, out=log_term)
    small = np.divide(e, one_plus, out=e)
    large = np.divide(1, one_plus, out=one_plus)
    up = x >= 0  # at x = 0 both sigmoids are 1/2
    down = x < 0
    sig_x = np.multiply(large, up, out=positive)
    sig_x += np.multiply(small, down, out=zeros)
    large *= down
    small *= up
    large += small  # sigmoid(-x)
    np.multiply(not_y, sig_x, out=g)
    large *= y
    g -= large
    g *= s
    return total


@register("binary_cross_entropy_with_logits", "numpy")
def binary_cross_entropy_with_logits(problem: Any, wrt: tuple[str, ...], cotangent: Any) -> Any:
    return elementwise(problem, wrt, cotangent, _bce_logits_chunk, negated_second=False)
