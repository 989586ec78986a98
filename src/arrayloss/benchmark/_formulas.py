"""The peers' side of every workload: each loss written plainly in NumPy (value and
hand-derived gradient), and as PyTorch / JAX value functions for their autodiff.

NumPy functions return ``(value, gradient)`` with the ``"mean"`` reduction, float32 in,
float32 out. PyTorch and JAX use their libraries' own losses where they have one
(``torch.nn.functional``, optax) and the same formula written out where not.
"""

from __future__ import annotations

from typing import Any

import numpy as np

# ------------------------------------------------------------------ NumPy


def np_mse(p: Any, t: Any) -> Any:
    d = p - t
    return np.mean(d * d), 2 * d / d.size


def np_mae(p: Any, t: Any) -> Any:
    d = p - t
    return np.mean(np.abs(d)), np.sign(d) / d.size


def np_huber(p: Any, t: Any, delta: float = 1.0) -> Any:
    d = p - t
    a = np.abs(d)
    value = np.mean(np.where(a < delta, 0.5 * d * d, delta * (a - 0.5 * delta)))
    return value, np.clip(d, -delta, delta) / d.size


def np_sigmoid(x: Any) -> Any:
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def np_bce_logits(x: Any, y: Any) -> Any:
    value = np.mean(np.maximum(x, 0) - x * y + np.log1p(np.exp(-np.abs(x))))
    return value, (np_sigmoid(x) - y) / x.size


def np_sigmoid_focal(x: Any, y: Any, alpha: float = 0.25, gamma: float = 2.0) -> Any:
    p = np_sigmoid(x)
    ce = np.maximum(x, 0) - x * y + np.log1p(np.exp(-np.abs(x)))
    p_t = p * y + (1 - p) * (1 - y)
    q = 1 - p_t
    a_t = alpha * y + (1 - alpha) * (1 - y)
    value = np.mean(a_t * ce * q**gamma)
    dq = -(2 * y - 1) * p * (1 - p)
    grad = a_t * ((p - y) * q**gamma + ce * gamma * q ** (gamma - 1) * dq) / x.size
    return value, grad


def np_cross_entropy(x: Any, y: Any) -> Any:
    rows = np.arange(x.shape[0])
    m = x.max(axis=1, keepdims=True)
    e = np.exp(x - m)
    s = e.sum(axis=1, keepdims=True)
    lse = np.log(s) + m
    value = np.mean(lse[:, 0] - x[rows, y])
    g = e / s
    g[rows, y] -= 1
    g /= x.shape[0]
    return value, g


def np_kl_div(logq: Any, p: Any) -> Any:
    n = logq.shape[0]
    plogp = np.where(p > 0, p * np.log(np.where(p > 0, p, 1)), 0)
    return np.sum(plogp - p * logq) / n, -p / n


def np_dice(p: Any, t: Any, smooth_nr: float = 1e-5, smooth_dr: float = 1e-5) -> Any:
    axes = tuple(range(2, p.ndim))
    inter = np.sum(p * t, axis=axes, keepdims=True)
    den = np.sum(p, axis=axes, keepdims=True) + np.sum(t, axis=axes, keepdims=True) + smooth_dr
    num = 2 * inter + smooth_nr
    count = p.shape[0] * p.shape[1]
    value = np.mean(1 - num / den)
    grad = (-2 * t / den + num / (den * den)) / count
    return value, grad


def np_triplet(a: Any, p: Any, n: Any, margin: float = 1.0, eps: float = 1e-6) -> Any:
    dp = a - p + eps
    dn = a - n + eps
    lp = np.sqrt(np.sum(dp * dp, axis=1, keepdims=True))
    ln = np.sqrt(np.sum(dn * dn, axis=1, keepdims=True))
    hinge = lp - ln + margin
    value = np.mean(np.maximum(hinge, 0))
    active = (hinge > 0) / a.shape[0]
    gp = dp / lp * active
    gn = dn / ln * active
    return value, (gp - gn, -gp, gn)


# ---------------------------------------------------------------- PyTorch


def torch_sigmoid_focal(x: Any, y: Any, alpha: float = 0.25, gamma: float = 2.0) -> Any:
    """``torchvision.ops.sigmoid_focal_loss(..., reduction="mean")`` as written there."""
    import torch.nn.functional as F

    p = x.sigmoid()
    ce = F.binary_cross_entropy_with_logits(x, y, reduction="none")
    p_t = p * y + (1 - p) * (1 - y)
    loss = ce * (1 - p_t) ** gamma
    loss = (alpha * y + (1 - alpha) * (1 - y)) * loss
    return loss.mean()


def torch_dice(p: Any, t: Any, smooth_nr: float = 1e-5, smooth_dr: float = 1e-5) -> Any:
    """MONAI's ``DiceLoss`` (no activation, channels on axis 1) written in PyTorch."""
    axes = tuple(range(2, p.ndim))
    inter = (p * t).sum(dim=axes)
    den = p.sum(dim=axes) + t.sum(dim=axes) + smooth_dr
    return (1 - (2 * inter + smooth_nr) / den).mean()


# -------------------------------------------------------------------- JAX


def jax_mse(p: Any, t: Any) -> Any:
    import optax

    return optax.losses.squared_error(p, t).mean()


def jax_mae(p: Any, t: Any) -> Any:
    import jax.numpy as jnp

    return jnp.abs(p - t).mean()


def jax_huber(p: Any, t: Any) -> Any:
    import optax

    return optax.losses.huber_loss(p, t, delta=1.0).mean()


def jax_bce_logits(x: Any, y: Any) -> Any:
    import optax

    return optax.losses.sigmoid_binary_cross_entropy(x, y).mean()


def jax_sigmoid_focal(x: Any, y: Any) -> Any:
    import optax

    return optax.losses.sigmoid_focal_loss(x, y, alpha=0.25, gamma=2.0).mean()


def jax_cross_entropy(x: Any, y: Any) -> Any:
    import optax

    return optax.losses.softmax_cross_entropy_with_integer_labels(x, y).mean()


def jax_kl_div(logq: Any, p: Any) -> Any:
    import optax

    return optax.losses.kl_divergence(logq, p).mean()


def jax_dice(p: Any, t: Any, smooth_nr: float = 1e-5, smooth_dr: float = 1e-5) -> Any:
    axes = tuple(range(2, p.ndim))
    inter = (p * t).sum(axis=axes)
    den = p.sum(axis=axes) + t.sum(axis=axes) + smooth_dr
    return (1 - (2 * inter + smooth_nr) / den).mean()


def jax_triplet(a: Any, p: Any, n: Any) -> Any:
    import optax

    return optax.losses.triplet_margin_loss(a, p, n, margin=1.0, eps=1e-6).mean()
