"""The multi-class (softmax) focal loss, computed in log space."""

from __future__ import annotations

import math
from typing import Any

from .._spec import Array, LossSpec, Namespace, loss_function, prepare
from .._validate import check_option
from ..kernels import softmax_focal as k
from ..kernels.softmax import index_target
from ._class_targets import (
    check_ignore_index,
    class_layout,
    class_vector,
    finish_targets,
    used_denominator,
)

__all__ = ["softmax_focal_loss"]


SOFTMAX_FOCAL = LossSpec(
    name="softmax_focal_loss",
    args=("logits", "target"),
    wrt=("logits",),
    value=k.VALUES["softmax_focal_loss"],
    grads=k.GRADS["softmax_focal_loss"],
    vjp=k.VJPS["softmax_focal_loss"],
    reference="focal loss (Lin et al. 2017) on softmax; formula written out",
    elementwise=False,
    index_args=("target",),
)


@loss_function(SOFTMAX_FOCAL)
def softmax_focal_loss(
    logits: Array,
    target: Array,
    /,
    *,
    alpha: float | Array | None = None,
    gamma: float = 2.0,
    ignore_index: int = -100,
    axis: int = -1,
    reduction: str = "mean",
    weight: Array | None = None,
    where: Array | None = None,
    xp: Namespace = None,
) -> Array:
    r"""Multi-class focal loss on softmax probabilities, in log space.

    With ``p = softmax(logits)`` along ``axis``, for class-index targets ``y``

    .. math:: \ell_n = -\alpha_{y_n} (1 - p_{n y_n})^\gamma \log p_{n y_n},

    and for class-probability targets ``t``, ``ℓ_n = -sum_c α_c t_nc (1 - p_nc)^γ log
    p_nc``. With ``l = log p`` and ``q = 1 - p``, each term ``f(l) = -q^γ l`` has

    .. math:: f'(l) = q^\gamma \Bigl(\gamma\, p\, \frac{l}{q} - 1\Bigr), \qquad
              \frac{\partial \ell_n}{\partial\, \mathrm{logits}_{nj}} =
              k_{nj} - p_{nj} \sum_c k_{nc}, \quad k_{nc} = \alpha_c t_{nc} f'(l_{nc}).

    ``log p`` comes from the log-softmax, ``q^γ = exp(γ log q)`` and ``l/q`` takes its
    limit -1 at ``q = 0``, so values and gradients stay finite at logits of ±100 and for
    ``0 < γ < 1`` at ``p → 1``, where the naive formula's ``(1 - p)^(γ-1)`` is infinite.
    With class indices, ``q_y`` is summed from the other classes' probabilities and
    ``log p_y = -log1p(q_y / p_y)`` near ``p_y = 1``, so both keep full relative
    precision (``1 - p_y = 4e-87`` at logits of ±100 is resolved, not rounded to 0);
    with probabilities ``q = -expm1(log p)``. ``γ = 0`` is the (``α``-weighted)
    cross-entropy.

    Reference: no framework ships this loss; it is the formula above (Lin et al., 2017,
    with the softmax in place of the sigmoid), checked against the same formula in
    NumPy float64 and PyTorch autograd. ``alpha`` scales each sample by the target
    class's ``α`` (a float scales all classes; None is 1). ``"mean"`` divides by
    ``sum(weight)`` over the samples that are neither ignored nor masked out (their
    count without ``weight``); ``α`` does not enter the denominator. Samples whose
    target is ``ignore_index`` have loss and gradient 0.

    Args:
        logits: unnormalised scores ``[..., C, ...]`` with the classes along ``axis``,
            real floating.
        target: class indices (integer, ``logits``' shape without ``axis``) or class
            probabilities (floating, ``logits``' shape).
        alpha: a float, per-class weights ``[C]``, or None.
        gamma: the focusing exponent ``γ >= 0``.
        ignore_index: a class-index value whose samples are skipped (index targets).
        axis: the class axis.
        reduction: ``"none"`` (per sample), ``"sum"`` or ``"mean"``.
        weight: per-sample weights broadcastable to the unreduced loss.
        where: boolean mask of the samples to keep.
        xp: array namespace or backend name; default: the inputs' library.

    Returns:
        A 0-d array, or the per-sample losses for ``"none"``. Out-of-range labels raise
        ``ValueError`` on eager backends and give NaN under JAX and Dask.

    Examples:
        >>> import numpy as np
        >>> import arrayloss as al
        >>> logits = np.array([[2.0, 0.5, -1.0], [0.0, 1.0, 0.0]])
        >>> round(float(al.softmax_focal_loss(logits, np.array([0, 1]), gamma=2.0)), 12)
        0.055087312132
    """
    check_option("gamma", gamma, lambda v: 0 <= v < math.inf, "a finite number >= 0")
    check_ignore_index(ignore_index)
    if alpha is not None and not hasattr(alpha, "shape") and not isinstance(alpha, (list, tuple)):
        check_option("alpha", alpha, lambda v: math.isfinite(v), "a finite number or a [C] array")
        alpha = float(alpha)
    ax, loss_shape = class_layout(logits, axis)
    problem = prepare(
        SOFTMAX_FOCAL,
        {"logits": logits, "target": target},
        xp=xp,
        reduction=reduction,
        weight=weight,
        where=where,
        loss_shape=loss_shape,
    )
    sparse = finish_targets(problem, axis=ax, ignore_index=ignore_index)
    if alpha is not None and not isinstance(alpha, float):
        alpha = class_vector(problem, alpha, "alpha", axis=ax)
    options: dict[str, Any] = {"axis": ax, "sparse": sparse, "gamma": float(gamma), "alpha": alpha}
    if sparse:
        options["ignore_index"] = ignore_index
    problem.options = options
    if sparse and reduction == "mean":
        p, t = problem.arrays
        used = index_target(problem.xp, t, p.shape[ax], ignore_index).used
        problem.denominator = used_denominator(problem, used, problem.weight)
    return problem
