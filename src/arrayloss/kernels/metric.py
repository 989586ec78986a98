"""Metric-learning kernels: losses of pairs, triplets and batches of embeddings, and VJPs.

The embeddings are ``[..., D]`` with the feature axis last; they broadcast together and
the unreduced loss has their broadcast shape without the last axis (one value per pair
or triplet); ``target`` broadcasts to that per-sample shape. Each loss has a fused
``vjp`` kernel sharing the distances between value and gradients; the gradient table
entries are read off it. Subgradients at kinks and zero distances follow PyTorch: the
norm's gradient is 0 where the norm is 0, ``clamp_min(x, 0)`` passes the gradient at
``x = 0``, and ``minimum`` splits it in half on a tie. ``ntxent`` takes a batch
``embeddings [N, D]`` with integer ``labels [N]`` and has one loss per anchor.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from types import ModuleType
from typing import Any

import array_api_compat

from .._math import norm_scale, safe_max, zero_safe_mul

__all__ = ["COSINE_EPSILON", "GRADS", "VALUES", "VJPS", "grad_from_vjp", "ntxent_positive_pairs"]

# PyTorch's cosine_embedding_loss adds ATen's EPSILON to both squared norms; it is the
# float32 constant 1e-12, i.e. this double (the difference shows at zero vectors).
COSINE_EPSILON = 9.999999960041972e-13

Pullback = Callable[[Any], tuple[Any, ...]]


def grad_from_vjp(vjp: Callable[..., Any], name: str) -> Callable[..., Any]:
    """The gradient-table entry for ``name``: the fused kernel's pullback of ``cot``."""

    def grad(xp: ModuleType, cot: Any, *arrays: Any, **options: Any) -> Any:
        _, pullback = vjp(xp, *arrays, wrt=(name,), **options)
        return pullback(cot)[0]

    grad.__name__ = f"{vjp.__name__.removesuffix('_vjp')}_{name}_grad"
    return grad


def _value_from_vjp(vjp: Callable[..., Any]) -> Callable[..., Any]:
    def value(xp: ModuleType, *arrays: Any, **options: Any) -> Any:
        return vjp(xp, *arrays, wrt=(), **options)[0]

    value.__name__ = vjp.__name__.removesuffix("_vjp")
    return value


def _relu(xp: ModuleType, x: Any) -> Any:
    """``clamp_min(x, 0)``; NaN stays NaN."""
    return xp.maximum(x, xp.zeros_like(x))


def _where_zero(xp: ModuleType, keep: Any, x: Any) -> Any:
    return xp.where(keep, x, xp.zeros_like(x))


def _safe_divisor(xp: ModuleType, x: Any, zero: Any) -> Any:
    return xp.where(zero, xp.ones_like(x), x)


# ------------------------------------------------------------- p-norm distance


def p_norm(xp: ModuleType, delta: Any, p: float) -> Any:
    """``||delta||_p`` over the last axis, for any ``p > 0`` (``inf``: the max norm)."""
    if p == 1:
        return xp.sum(xp.abs(delta), axis=-1)
    if math.isinf(p):
        return xp.max(xp.abs(delta), axis=-1)
    # ||d||_p = s ||d / s||_p: huge vectors are scaled by a power of two (exact) first
    scale = norm_scale(xp, delta, power=2 * max(p, 1))
    delta = delta / scale
    if p == 2:
        return xp.sqrt(xp.sum(delta * delta, axis=-1)) * scale[..., 0]
    return xp.sum(xp.abs(delta) ** p, axis=-1) ** (1 / p) * scale[..., 0]


def p_norm_vjp(xp: ModuleType, cot: Any, delta: Any, norm: Any, p: float) -> Any:
    """``cot * d||delta||_p / d delta``, PyTorch's ``norm_backward`` case by case.

    At ``norm = 0`` the gradient is 0 for ``p > 1`` (and for ``p < 1``), ``sign(0) = 0``
    for ``p = 1``; for ``p < 1`` components equal to 0 get 0; for ``p = inf`` the
    gradient is shared equally by the components attaining the max.
    """
    g = cot[..., None]
    n = norm[..., None]
    zero = n == 0
    if p == 1:
        return g * xp.sign(delta)
    if math.isinf(p):
        a = xp.abs(delta)
        at_max = (a == n) | xp.isnan(a)
        count = xp.sum(xp.astype(at_max, delta.dtype), axis=-1, keepdims=True)
        share = g / _safe_divisor(xp, count, count == 0)
        return xp.sign(delta) * _where_zero(xp, at_max, share)
    if p == 2:
        return _where_zero(xp, ~zero, g * (delta / _safe_divisor(xp, n, zero)))
    a = xp.abs(delta)
    if p < 1:
        at_zero = delta == 0
        scaled = xp.sign(delta) * _where_zero(
            xp, ~at_zero, _safe_divisor(xp, a, at_zero) ** (p - 1)
        )
        return scaled * g * n ** (1 - p)
    # homogeneous of degree 0: huge vectors are scaled (as in p_norm) so a**(p - 1) and
    # n**(p - 1) cannot overflow
    s = norm_scale(xp, delta, power=2 * p)
    delta, a, n = delta / s, a / s, n / s
    scaled = xp.sign(delta) * a ** (p - 1) if p < 2 else delta * a ** (p - 2)
    scale = _where_zero(xp, ~zero, g / _safe_divisor(xp, n, zero) ** (p - 1))
    return scaled * scale


def pairwise_distance(xp: ModuleType, x: Any, y: Any, p: float, eps: float) -> tuple[Any, Any]:
    """PyTorch's ``pairwise_distance``: ``||x - y + eps||_p``; returns ``(x - y + eps, d)``."""
    delta = x - y + eps
    return delta, p_norm(xp, delta, p)


# ----------------------------------------------------------------- contrastive


def contrastive_vjp(
    xp: ModuleType, x1: Any, x2: Any, target: Any, *, wrt: tuple[str, ...], margin: float
) -> tuple[Any, Pullback]:
    """``t d^2 + (1 - t) max(margin - d, 0)^2`` with ``d = ||x1 - x2||_2``.

    ``target`` outside ``[0, 1]`` gives NaN (it raises on eager backends). At ``d = 0``
    the norm's subgradient is 0, so the dissimilar term has gradient 0 there.
    """
    valid = (target >= 0) & (target <= 1)
    t = xp.where(valid, target, xp.full_like(target, math.nan))
    delta = x1 - x2
    sq = xp.sum(delta * delta, axis=-1)
    dist = xp.sqrt(sq)
    gap = _relu(xp, margin - dist)
    # 0 * d^2 is 0 for a dissimilar pair even where d^2 overflows (d ~ 1e20 in float32)
    loss = zero_safe_mul(xp, t, sq) + (1 - t) * (gap * gap)

    def pullback(cot: Any) -> tuple[Any, ...]:
        positive = dist > 0
        pull = _where_zero(xp, positive, gap / _safe_divisor(xp, dist, ~positive))
        g1 = (2 * cot * (t - (1 - t) * pull))[..., None] * delta
        return tuple(g1 if name == "x1" else -g1 for name in wrt)

    return loss, pullback


# -------------------------------------------------------------- triplet margin


def triplet_margin_vjp(
    xp: ModuleType,
    anchor: Any,
    positive: Any,
    negative: Any,
    *,
    wrt: tuple[str, ...],
    margin: float,
    p: float,
    eps: float,
    swap: bool,
) -> tuple[Any, Pullback]:
    """PyTorch's ``triplet_margin_loss``: ``max(margin + d(a, p) - d(a, n), 0)``.

    ``d`` is :func:`pairwise_distance`; with ``swap``, ``d(a, n)`` is replaced by
    ``min(d(a, n), d(p, n))``.
    """
    delta_ap, dist_pos = pairwise_distance(xp, anchor, positive, p, eps)
    delta_an, dist_an = pairwise_distance(xp, anchor, negative, p, eps)
    dist_neg = dist_an
    if swap:
        delta_pn, dist_pn = pairwise_distance(xp, positive, negative, p, eps)
        dist_neg = xp.minimum(dist_an, dist_pn)
    hinge = (margin + dist_pos) - dist_neg
    loss = _relu(xp, hinge)

    def pullback(cot: Any) -> tuple[Any, ...]:
        c = _where_zero(xp, hinge >= 0, cot)
        g_ap = p_norm_vjp(xp, c, delta_ap, dist_pos, p)
        if swap:
            # torch.minimum's backward: half to each side on a tie, all of it to the
            # smaller side otherwise (and to both when a NaN makes neither smaller).
            half, zero, one = xp.full_like(c, 0.5), xp.zeros_like(c), xp.ones_like(c)
            tie = dist_an == dist_pn
            c_an = c * xp.where(tie, half, xp.where(dist_an > dist_pn, zero, one))
            c_pn = c * xp.where(tie, half, xp.where(dist_an < dist_pn, zero, one))
            g_an = p_norm_vjp(xp, c_an, delta_an, dist_an, p)
            g_pn = p_norm_vjp(xp, c_pn, delta_pn, dist_pn, p)
            grads = {"anchor": g_ap - g_an, "positive": -g_ap - g_pn, "negative": g_an + g_pn}
        else:
            g_an = p_norm_vjp(xp, c, delta_an, dist_an, p)
            grads = {"anchor": g_ap - g_an, "positive": -g_ap, "negative": g_an}
        return tuple(grads[name] for name in wrt)

    return loss, pullback


# ------------------------------------------------------------ cosine embedding


def cosine_embedding_vjp(
    xp: ModuleType, x1: Any, x2: Any, target: Any, *, wrt: tuple[str, ...], margin: float
) -> tuple[Any, Pullback]:
    """PyTorch's ``cosine_embedding_loss``: ``1 - cos`` (t = 1), ``max(cos - margin, 0)``
    (t = -1), with ``cos = <x1, x2> / sqrt((|x1|^2 + ε)(|x2|^2 + ε))``, ``ε = float32(1e-12)``.

    ``target`` other than 1 and -1 gives NaN (it raises on eager backends). Huge vectors
    are scaled by a power of two first (exact; cos is scale-invariant), so the product
    of their squared norms cannot overflow.
    """
    s1, s2 = norm_scale(xp, x1), norm_scale(xp, x2)
    x1, x2 = x1 / s1, x2 / s2
    prod = xp.sum(x1 * x2, axis=-1)
    m1 = xp.sum(x1 * x1, axis=-1) + COSINE_EPSILON
    m2 = xp.sum(x2 * x2, axis=-1) + COSINE_EPSILON
    denom = xp.sqrt(m1 * m2)
    cos = prod / denom
    similar = target == 1
    dissimilar = target == -1
    excess = cos - margin
    loss = xp.where(
        similar,
        1 - cos,
        xp.where(dissimilar, _relu(xp, excess), xp.full_like(cos, math.nan)),
    )

    def pullback(cot: Any) -> tuple[Any, ...]:
        slope = xp.where(
            similar,
            -cot,
            xp.where(
                dissimilar & (excess >= 0),
                cot,
                xp.where(dissimilar, xp.zeros_like(cot), xp.full_like(cot, math.nan)),
            ),
        )
        c = slope[..., None]
        cos_e = cos[..., None]
        denom_e = denom[..., None]
        grads = {
            "x1": c * (x2 / denom_e - cos_e * x1 / m1[..., None]) / s1,
            "x2": c * (x1 / denom_e - cos_e * x2 / m2[..., None]) / s2,
        }
        return tuple(grads[name] for name in wrt)

    return loss, pullback


# ---------------------------------------------------------------------- ntxent


def _positive_pairs(xp: ModuleType, labels: Any) -> tuple[Any, Any]:
    """``(pos, neg)``: same label off the diagonal, and different label, ``[N, N]``."""
    n = labels.shape[0]
    index = xp.arange(n, device=array_api_compat.device(labels))
    same = labels[:, None] == labels[None, :]
    return same & (index[:, None] != index[None, :]), ~same


def ntxent_positive_pairs(xp: ModuleType, labels: Any, dtype: Any) -> Any:
    """The number of positive pairs of each anchor, ``[N]`` (the ``"mean"`` weights)."""
    pos, _ = _positive_pairs(xp, labels)
    return xp.sum(xp.astype(pos, dtype), axis=1)


def ntxent_vjp(
    xp: ModuleType, embeddings: Any, labels: Any, *, wrt: tuple[str, ...], temperature: float
) -> tuple[Any, Pullback]:
    """optax's ``ntxent``, summed per anchor: ``l_i = sum_{j in P(i)} -log p_ij``.

    ``s = cos(e_i, e_j) / T`` with optax's norms ``sqrt(max(|e|^2, finfo.eps))``;
    ``p_ij = exp(s_ij) / (exp(s_ij) + sum_{k in N(i)} exp(s_ik))`` over the positives
    ``P(i)`` (same label, ``j != i``) and negatives ``N(i)`` (other labels) of anchor
    ``i``, shifted by the row's max for stability.
    """
    # huge rows are scaled by a power of two first: u = e / |e| is scale-invariant
    e_scale = norm_scale(xp, embeddings)
    e = embeddings / e_scale
    eps = float(xp.finfo(e.dtype).eps)
    sq = xp.sum(e * e, axis=-1, keepdims=True)
    norm = xp.sqrt(xp.maximum(sq, xp.full_like(sq, eps)))
    u = e / norm
    s = xp.matmul(u, xp.matrix_transpose(u)) / temperature
    pos, neg = _positive_pairs(xp, labels)
    off_diagonal = pos | neg
    shift = safe_max(xp, xp.where(off_diagonal, s, xp.full_like(s, -math.inf)), axis=1)
    z = _where_zero(xp, off_diagonal, s - shift)
    ez = xp.exp(z)
    denom = ez + xp.sum(_where_zero(xp, neg, ez), axis=1, keepdims=True)
    loss = -xp.sum(_where_zero(xp, pos, z - xp.log(denom)), axis=1)

    def pullback(cot: Any) -> tuple[Any, ...]:
        inverse = 1 / denom
        per_negative = xp.sum(_where_zero(xp, pos, inverse), axis=1, keepdims=True)
        d_s = _where_zero(xp, pos, ez * inverse - 1) + _where_zero(xp, neg, ez * per_negative)
        g_s = cot[:, None] * d_s / temperature
        g_u = xp.matmul(g_s + xp.matrix_transpose(g_s), u)
        # optax clips the squared norm at eps: below it the norm is a constant.
        radial = _where_zero(xp, sq > eps, xp.sum(u * g_u, axis=-1, keepdims=True))
        return tuple((g_u - u * radial) / (norm * e_scale) for _ in wrt)

    return loss, pullback


VJPS: dict[str, Callable[..., Any]] = {
    "contrastive": contrastive_vjp,
    "triplet_margin": triplet_margin_vjp,
    "cosine_embedding": cosine_embedding_vjp,
    "ntxent": ntxent_vjp,
}

VALUES: dict[str, Callable[..., Any]] = {name: _value_from_vjp(vjp) for name, vjp in VJPS.items()}

#: The gradient table of every metric-learning loss: loss name -> argument -> VJP.
GRADS: dict[str, dict[str, Callable[..., Any]]] = {
    "contrastive": {name: grad_from_vjp(contrastive_vjp, name) for name in ("x1", "x2")},
    "triplet_margin": {
        name: grad_from_vjp(triplet_margin_vjp, name) for name in ("anchor", "positive", "negative")
    },
    "cosine_embedding": {name: grad_from_vjp(cosine_embedding_vjp, name) for name in ("x1", "x2")},
    "ntxent": {"embeddings": grad_from_vjp(ntxent_vjp, "embeddings")},
}
