"""NumPy fast paths of ``binary_cross_entropy_with_logits`` and ``sigmoid_focal_loss``:
one chunked pass, two (four for focal) transcendentals per element.

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

from ..kernels.binary import binary_cross_entropy_with_logits as bce_with_logits_kernel
from . import register
from .numpy_regression import elementwise
from .numpy_rows import rows_fast_path

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
    negative = np.negative(x)
    np.maximum(negative, zeros, out=negative)
    negative += log_term
    with np.errstate(invalid="ignore"):  # 0 * inf at an infinite logit: fixed below
        positive *= not_y
        negative *= y
    value = np.add(positive, negative, out=positive if loss is None else loss)
    total = float(np.add.reduce(value))
    if total != total:
        # NaN: a NaN input, or 0 * inf where a target of 0 (or 1) meets an infinite
        # logit; the kernel's zero-safe products give 0 for a term whose weight is 0
        value[...] = bce_with_logits_kernel(np, x, y)
        total = float(np.add.reduce(value))
    if loss is not None:
        total = 0.0
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


def _focal_chunk(alpha: float, gamma: float) -> Any:
    """``sigmoid_focal_loss`` for a chunk whose targets are all 0 or 1 (else None).

    With ``u = x`` (y = 0) or ``-x`` (y = 1): ``1 - p_t = sigmoid(u)``, ``ce =
    softplus(u)``, and the kernel's log-space terms become ``log(1 - p_t) =
    -(max(-u, 0) + log1p(e))`` and ``log p + log(1 - p) = -(|x| + 2 log1p(e))`` with
    ``e = exp(-|x|)``: four transcendentals per element where the kernel takes a dozen.
    """

    def kernel(x: Array, y: Array, g: Array, loss: Array | None, s: Any) -> float | None:
        zeros = np.zeros_like(x)
        e = np.abs(x)
        abs_x = e.copy()
        np.negative(e, out=e)
        np.exp(e, out=e)
        log_term = np.log1p(e)
        flip = np.multiply(y, -2, dtype=x.dtype)
        flip += 1  # 1 - 2y: +1 for y = 0, -1 for y = 1
        u = np.multiply(x, flip)
        ce = np.maximum(u, zeros)
        ce += log_term
        log_q = np.negative(u)
        np.maximum(log_q, zeros, out=log_q)
        log_q += log_term
        np.negative(log_q, out=log_q)  # log(1 - p_t)
        value = ce if gamma == 0 else np.exp(np.multiply(log_q, gamma), out=zeros)
        modulation = value
        if gamma != 0:
            value = np.multiply(ce, modulation, out=loss if loss is not None else None)
        alpha_t = None
        if alpha >= 0:
            alpha_t = np.multiply(y, 2 * alpha - 1, dtype=x.dtype)
            alpha_t += 1 - alpha  # alpha y + (1 - alpha)(1 - y)
            value = np.multiply(value, alpha_t, out=loss if loss is not None else value)
        elif loss is not None:
            np.copyto(loss, value)
        total = 0.0 if loss is not None else float(np.add.reduce(value))
        if s is None:
            return total
        # sigmoid(u): 1/(1+e) for u >= 0, e/(1+e) below, as _math.sigmoid
        one_plus = np.add(e, 1)
        small = np.divide(e, one_plus)
        large = np.divide(1, one_plus, out=one_plus)
        sig_u = np.multiply(large, u >= 0, out=large)
        small *= u < 0
        sig_u += small
        if gamma == 0:
            grad = sig_u
        else:
            grad = np.multiply(sig_u, modulation, out=sig_u)
            # gamma ce exp((gamma - 1) log(1 - p_t) + log p + log(1 - p))
            exponent = np.multiply(log_q, gamma - 1, out=log_q)
            exponent -= abs_x
            log_term *= 2
            exponent -= log_term
            np.exp(exponent, out=exponent)
            exponent *= ce
            exponent *= gamma
            grad += exponent
        grad *= flip
        if alpha_t is not None:
            grad *= alpha_t
        np.multiply(grad, s, out=g)
        return total

    return kernel


@register("sigmoid_focal_loss", "numpy")
def sigmoid_focal_loss(problem: Any, wrt: tuple[str, ...], cotangent: Any) -> Any:
    # The fused formulas hold for 0/1 targets and finite logits (at +-inf the kernel's
    # 0 * inf terms give NaN, which the fused ones would not); else the kernel runs.
    logits, target = problem.arrays[0], problem.arrays[1]
    if (
        type(target) is not np.ndarray
        or type(logits) is not np.ndarray
        or not np.all((target == 0) | (target == 1))
        or not np.isfinite(logits).all()
    ):
        return rows_fast_path(problem, wrt, cotangent)
    kernel = _focal_chunk(float(problem.options["alpha"]), float(problem.options["gamma"]))
    return elementwise(problem, wrt, cotangent, kernel, negated_second=False)


@register("binary_cross_entropy_with_logits", "numpy")
def binary_cross_entropy_with_logits(problem: Any, wrt: tuple[str, ...], cotangent: Any) -> Any:
    return elementwise(problem, wrt, cotangent, _bce_logits_chunk, negated_second=False)
