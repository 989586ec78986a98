"""Regression losses: the public functions (docstrings, validation, dispatch).

Every loss here is element-wise: ``pred`` and ``target`` broadcast together, the
unreduced loss has their broadcast shape, and ``"mean"``/``"sum"`` reduce over all
elements whatever the rank (PyTorch's rule).

Common keyword arguments (DESIGN.md section 3):

* ``reduction``: ``"none"`` (per-element), ``"sum"`` or ``"mean"`` (default).
* ``weight``: per-element weights broadcast to the unreduced loss. ``"mean"`` divides by
  ``sum(weight)`` (PyTorch's ``mse_loss``/``l1_loss``, scikit-learn's ``sample_weight``),
  except ``huber`` which divides by the element count as PyTorch 2.13 does.
* ``where``: boolean mask; masked-out elements leave numerator and denominator, and
  come back as 0 (with zero gradient) under ``"none"``.
* ``xp``: the array namespace, a backend name or ``"auto"`` (default: the inputs').
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from .._spec import Array, LossSpec, Namespace, Problem, kernel_spec, loss_function, prepare
from .._validate import check_option, check_values, first_bad_value, values_checkable
from ..kernels import regression as k

__all__ = [
    "gaussian_nll",
    "huber",
    "l1",
    "log_cosh",
    "mae",
    "mape",
    "mse",
    "msle",
    "poisson_nll",
    "quantile",
    "rmse",
    "smooth_l1",
    "tweedie_deviance",
]


def _spec(name: str, reference: str, **fields: Any) -> LossSpec:
    return kernel_spec(k, name, fields.pop("args", ("pred", "target")), reference, **fields)


MSE = _spec("mse", "torch.nn.functional.mse_loss")
RMSE = _spec(
    "rmse",
    "sqrt of torch.nn.functional.mse_loss",
    value=k.mse,
    post=(k.sqrt_value, k.sqrt_derivative),
)
MAE = _spec("mae", "torch.nn.functional.l1_loss")
HUBER = _spec("huber", "torch.nn.functional.huber_loss", denominator="count")
SMOOTH_L1 = _spec("smooth_l1", "torch.nn.functional.smooth_l1_loss")
LOG_COSH = _spec("log_cosh", "optax.losses.log_cosh")
MSLE = _spec("msle", "keras.losses.mean_squared_logarithmic_error")
MAPE = _spec("mape", "sklearn.metrics.mean_absolute_percentage_error")
QUANTILE = _spec("quantile", "sklearn.metrics.mean_pinball_loss")
POISSON_NLL = _spec("poisson_nll", "torch.nn.functional.poisson_nll_loss")
GAUSSIAN_NLL = _spec(
    "gaussian_nll", "torch.nn.functional.gaussian_nll_loss", args=("pred", "target", "var")
)
TWEEDIE = _spec("tweedie_deviance", "sklearn.metrics.mean_tweedie_deviance")


def _pair(
    spec: LossSpec,
    pred: Array,
    target: Array,
    reduction: str,
    weight: Array,
    where: Array,
    xp: Namespace,
    **options: Any,
) -> Problem:
    return prepare(
        spec,
        {"pred": pred, "target": target},
        xp=xp,
        options=options,
        reduction=reduction,
        weight=weight,
        where=where,
    )


@loss_function(MSE)
def mse(
    pred: Array,
    target: Array,
    /,
    *,
    reduction: str = "mean",
    weight: Array | None = None,
    where: Array | None = None,
    xp: Namespace = None,
) -> Array:
    r"""Mean squared error, as ``torch.nn.functional.mse_loss``.

    .. math:: \ell_i = (\hat y_i - y_i)^2, \qquad
              \frac{\partial \ell_i}{\partial \hat y_i} = 2 (\hat y_i - y_i)

    Args:
        pred: predictions ``[...]``, real floating.
        target: targets, broadcastable with ``pred``.
        reduction: ``"none"``, ``"sum"`` or ``"mean"``.
        weight: per-element weights; ``"mean"`` divides by ``sum(weight)`` (PyTorch).
        where: boolean mask of the elements to keep.
        xp: array namespace or backend name; default: the inputs' library.

    Returns:
        A 0-d array (``"sum"``/``"mean"``) or the broadcast shape (``"none"``), in the
        input's dtype.

    Examples:
        >>> import numpy as np
        >>> import arrayloss as al
        >>> float(al.mse(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 5.0])))
        1.3333333333333333
    """
    return _pair(MSE, pred, target, reduction, weight, where, xp)


@loss_function(RMSE)
def rmse(
    pred: Array,
    target: Array,
    /,
    *,
    reduction: str = "mean",
    weight: Array | None = None,
    where: Array | None = None,
    xp: Namespace = None,
) -> Array:
    r"""Root mean squared error: the square root of :func:`mse` under the same options.

    .. math:: \mathrm{rmse} = \sqrt{\mathrm{mse}}, \qquad
              \frac{\partial\, \mathrm{rmse}}{\partial \hat y} =
              \frac{1}{2\sqrt{\mathrm{mse}}} \frac{\partial\, \mathrm{mse}}{\partial \hat y}

    ``reduction="none"`` gives ``sqrt(weight) * |pred - target|``. At a perfect
    prediction the gradient is 0 (the subgradient PyTorch gives ``|d|`` at 0), not the
    NaN of differentiating ``sqrt`` at 0. Reference: ``sqrt(F.mse_loss(...))``, which is
    scikit-learn's ``root_mean_squared_error`` (with ``sample_weight``).

    Args:
        pred: predictions ``[...]``, real floating.
        target: targets, broadcastable with ``pred``.
        reduction, weight, where, xp: as :func:`mse`.

    Returns:
        A 0-d array, or the broadcast shape for ``"none"``.

    Examples:
        >>> import numpy as np
        >>> import arrayloss as al
        >>> float(al.rmse(np.array([0.0, 0.0]), np.array([3.0, 4.0])))
        3.5355339059327378
    """
    return _pair(RMSE, pred, target, reduction, weight, where, xp)


@loss_function(MAE, aliases=("l1",))
def mae(
    pred: Array,
    target: Array,
    /,
    *,
    reduction: str = "mean",
    weight: Array | None = None,
    where: Array | None = None,
    xp: Namespace = None,
) -> Array:
    r"""Mean absolute error (L1), as ``torch.nn.functional.l1_loss``.

    .. math:: \ell_i = |\hat y_i - y_i|, \qquad
              \frac{\partial \ell_i}{\partial \hat y_i} = \operatorname{sign}(\hat y_i - y_i)

    The subgradient at ``pred == target`` is 0, as PyTorch. ``"mean"`` with ``weight``
    divides by ``sum(weight)`` (PyTorch).

    Args:
        pred: predictions ``[...]``, real floating.
        target: targets, broadcastable with ``pred``.
        reduction, weight, where, xp: as :func:`mse`.

    Returns:
        A 0-d array, or the broadcast shape for ``"none"``.

    Examples:
        >>> import numpy as np
        >>> import arrayloss as al
        >>> float(al.mae(np.array([1.0, 2.0]), np.array([2.0, 4.0])))
        1.5
    """
    return _pair(MAE, pred, target, reduction, weight, where, xp)


l1 = mae


@loss_function(HUBER)
def huber(
    pred: Array,
    target: Array,
    /,
    *,
    delta: float = 1.0,
    reduction: str = "mean",
    weight: Array | None = None,
    where: Array | None = None,
    xp: Namespace = None,
) -> Array:
    r"""Huber loss, as ``torch.nn.functional.huber_loss``.

    .. math:: \ell_i = \begin{cases} \tfrac12 d_i^2 & |d_i| < \delta \\
              \delta (|d_i| - \tfrac12 \delta) & \text{otherwise} \end{cases}, \qquad
              \frac{\partial \ell_i}{\partial \hat y_i} = \operatorname{clip}(d_i, -\delta, \delta)

    with :math:`d = \hat y - y`. ``"mean"`` with ``weight`` divides by the *element
    count*, not ``sum(weight)``: PyTorch 2.13's ``huber_loss(weight=...)`` does so.

    Args:
        pred: predictions ``[...]``, real floating.
        target: targets, broadcastable with ``pred``.
        delta: the threshold, ``> 0``.
        reduction, weight, where, xp: as :func:`mse`.

    Returns:
        A 0-d array, or the broadcast shape for ``"none"``.

    Examples:
        >>> import numpy as np
        >>> import arrayloss as al
        >>> al.huber(np.array([0.5, 3.0]), np.zeros(2), reduction="none").tolist()
        [0.125, 2.5]
    """
    check_option("delta", delta, lambda v: v > 0, "a number > 0")
    return _pair(HUBER, pred, target, reduction, weight, where, xp, delta=float(delta))


@loss_function(SMOOTH_L1)
def smooth_l1(
    pred: Array,
    target: Array,
    /,
    *,
    beta: float = 1.0,
    reduction: str = "mean",
    weight: Array | None = None,
    where: Array | None = None,
    xp: Namespace = None,
) -> Array:
    r"""Smooth L1 loss, as ``torch.nn.functional.smooth_l1_loss``.

    .. math:: \ell_i = \begin{cases} \tfrac{1}{2\beta} d_i^2 & |d_i| < \beta \\
              |d_i| - \tfrac12 \beta & \text{otherwise} \end{cases}, \qquad
              \frac{\partial \ell_i}{\partial \hat y_i} = \operatorname{clip}(d_i/\beta, -1, 1)

    ``beta = 0`` is exactly :func:`mae` (as PyTorch). ``smooth_l1(beta) = huber(delta=beta)
    / beta``. PyTorch has no ``weight`` here; ``"mean"`` with ``weight`` divides by
    ``sum(weight)``.

    Args:
        pred: predictions ``[...]``, real floating.
        target: targets, broadcastable with ``pred``.
        beta: the threshold, ``>= 0``.
        reduction, weight, where, xp: as :func:`mse`.

    Returns:
        A 0-d array, or the broadcast shape for ``"none"``.

    Examples:
        >>> import numpy as np
        >>> import arrayloss as al
        >>> al.smooth_l1(np.array([0.5, 3.0]), np.zeros(2), reduction="none").tolist()
        [0.125, 2.5]
    """
    check_option("beta", beta, lambda v: v >= 0, "a number >= 0")
    return _pair(SMOOTH_L1, pred, target, reduction, weight, where, xp, beta=float(beta))


@loss_function(LOG_COSH)
def log_cosh(
    pred: Array,
    target: Array,
    /,
    *,
    reduction: str = "mean",
    weight: Array | None = None,
    where: Array | None = None,
    xp: Namespace = None,
) -> Array:
    r"""Log-cosh loss, as ``optax.losses.log_cosh`` (PyTorch has none).

    .. math:: \ell_i = \log\cosh(\hat y_i - y_i), \qquad
              \frac{\partial \ell_i}{\partial \hat y_i} = \tanh(\hat y_i - y_i)

    Computed as ``|d| + softplus(-2|d|) - log 2``, finite for any finite ``d``.
    ``"mean"`` with ``weight`` divides by ``sum(weight)``.

    Args:
        pred: predictions ``[...]``, real floating.
        target: targets, broadcastable with ``pred``.
        reduction, weight, where, xp: as :func:`mse`.

    Returns:
        A 0-d array, or the broadcast shape for ``"none"``.

    Examples:
        >>> import numpy as np
        >>> import arrayloss as al
        >>> round(float(al.log_cosh(np.array([1.0]), np.array([0.0]))), 12)
        0.433780830483
    """
    return _pair(LOG_COSH, pred, target, reduction, weight, where, xp)


@loss_function(MSLE)
def msle(
    pred: Array,
    target: Array,
    /,
    *,
    reduction: str = "mean",
    weight: Array | None = None,
    where: Array | None = None,
    xp: Namespace = None,
) -> Array:
    r"""Mean squared logarithmic error, as Keras (PyTorch and optax have none).

    .. math:: \ell_i = \bigl(\log(1 + \max(\hat y_i, \epsilon)) -
              \log(1 + \max(y_i, \epsilon))\bigr)^2, \quad \epsilon = 10^{-7}

    Keras clips both arguments at ``1e-7``, so negative values are allowed and count as
    ``1e-7`` (with zero gradient below it); for non-negative inputs this equals
    scikit-learn's ``mean_squared_log_error``. ``"mean"`` with ``weight`` divides by
    ``sum(weight)`` (scikit-learn's ``sample_weight``).

    Args:
        pred: predictions ``[...]``, real floating.
        target: targets, broadcastable with ``pred``.
        reduction, weight, where, xp: as :func:`mse`.

    Returns:
        A 0-d array, or the broadcast shape for ``"none"``.

    Examples:
        >>> import numpy as np
        >>> import arrayloss as al
        >>> round(float(al.msle(np.array([np.e - 1.0]), np.array([0.0]))), 6)
        1.0
    """
    return _pair(MSLE, pred, target, reduction, weight, where, xp)


@loss_function(MAPE)
def mape(
    pred: Array,
    target: Array,
    /,
    *,
    reduction: str = "mean",
    weight: Array | None = None,
    where: Array | None = None,
    xp: Namespace = None,
) -> Array:
    r"""Mean absolute percentage error as a fraction, as scikit-learn.

    .. math:: \ell_i = \frac{|\hat y_i - y_i|}{\max(|y_i|, \epsilon)}, \quad
              \epsilon = 2.220446049250313 \times 10^{-16}

    scikit-learn's ``mean_absolute_percentage_error`` (a fraction, with float64's
    epsilon as the floor whatever the dtype); Keras's percentage is ``100 * mape``.
    Differentiable in ``pred`` only. ``"mean"`` with ``weight`` divides by
    ``sum(weight)`` (``sample_weight``).

    Args:
        pred: predictions ``[...]``, real floating.
        target: targets, broadcastable with ``pred``.
        reduction, weight, where, xp: as :func:`mse`.

    Returns:
        A 0-d array, or the broadcast shape for ``"none"``.

    Examples:
        >>> import numpy as np
        >>> import arrayloss as al
        >>> float(al.mape(np.array([110.0, 90.0]), np.array([100.0, 100.0])))
        0.1
    """
    return _pair(MAPE, pred, target, reduction, weight, where, xp)


@loss_function(QUANTILE)
def quantile(
    pred: Array,
    target: Array,
    /,
    *,
    q: float = 0.5,
    reduction: str = "mean",
    weight: Array | None = None,
    where: Array | None = None,
    xp: Namespace = None,
) -> Array:
    r"""Quantile (pinball) loss, as scikit-learn's ``mean_pinball_loss(alpha=q)``.

    .. math:: \ell_i = \max\bigl(q (y_i - \hat y_i),\ (q - 1)(y_i - \hat y_i)\bigr)

    The gradient in ``pred`` is ``-q`` above the target and ``1 - q`` below it; at
    ``pred == target`` it is the midpoint ``1/2 - q`` (0 for the median, matching
    ``mae / 2``). ``"mean"`` with ``weight`` divides by ``sum(weight)``.

    Args:
        pred: predictions ``[...]``, real floating.
        target: targets, broadcastable with ``pred``.
        q: the quantile, ``0 <= q <= 1``.
        reduction, weight, where, xp: as :func:`mse`.

    Returns:
        A 0-d array, or the broadcast shape for ``"none"``.

    Examples:
        >>> import numpy as np
        >>> import arrayloss as al
        >>> al.quantile(np.array([0.0, 2.0]), np.ones(2), q=0.9, reduction="none").tolist()
        [0.9, 0.09999999999999998]
    """
    check_option("q", q, lambda v: 0 <= v <= 1, "in [0, 1]")
    return _pair(QUANTILE, pred, target, reduction, weight, where, xp, q=float(q))


@loss_function(POISSON_NLL)
def poisson_nll(
    pred: Array,
    target: Array,
    /,
    *,
    log_input: bool = True,
    full: bool = False,
    eps: float = 1e-8,
    reduction: str = "mean",
    weight: Array | None = None,
    where: Array | None = None,
    xp: Namespace = None,
) -> Array:
    r"""Poisson negative log-likelihood, as ``torch.nn.functional.poisson_nll_loss``.

    .. math:: \ell_i = \begin{cases} e^{\hat y_i} - y_i \hat y_i & \text{log\_input} \\
              \hat y_i - y_i \log(\hat y_i + \epsilon) & \text{otherwise} \end{cases}
              \; [+\ y_i \log y_i - y_i + \tfrac12 \log(2\pi y_i)\ \text{for}\ y_i > 1
              \ \text{if full}]

    Differentiable in ``pred``. PyTorch has no ``weight`` here; ``"mean"`` with
    ``weight`` divides by ``sum(weight)``.

    Args:
        pred: the log-rate (``log_input=True``) or the rate, ``[...]``.
        target: observed counts, broadcastable with ``pred``.
        log_input: whether ``pred`` is the log of the rate.
        full: add the Stirling approximation of ``log(target!)``.
        eps: added to the rate inside the log when ``log_input=False``; ``> 0``.
        reduction, weight, where, xp: as :func:`mse`.

    Returns:
        A 0-d array, or the broadcast shape for ``"none"``.

    Examples:
        >>> import numpy as np
        >>> import arrayloss as al
        >>> float(al.poisson_nll(np.array([0.0]), np.array([1.0])))
        1.0
    """
    check_option("eps", eps, lambda v: v > 0, "a number > 0")
    return _pair(
        POISSON_NLL,
        pred,
        target,
        reduction,
        weight,
        where,
        xp,
        log_input=bool(log_input),
        full=bool(full),
        eps=float(eps),
    )


@loss_function(GAUSSIAN_NLL)
def gaussian_nll(
    pred: Array,
    target: Array,
    var: Array | float,
    /,
    *,
    full: bool = False,
    eps: float = 1e-6,
    reduction: str = "mean",
    weight: Array | None = None,
    where: Array | None = None,
    xp: Namespace = None,
) -> Array:
    r"""Gaussian negative log-likelihood, as ``torch.nn.functional.gaussian_nll_loss``.

    .. math:: \ell_i = \tfrac12 \Bigl(\log v_i + \frac{(\hat y_i - y_i)^2}{v_i}\Bigr)
              \ [+\ \tfrac12 \log 2\pi \ \text{if full}], \qquad v_i = \max(\mathrm{var}_i, \epsilon)

    ``var`` has the shape of ``pred``, or that shape without its last axis (one
    variance per row, as PyTorch), or broadcasts to it with one axis of size 1, or is a
    Python float. As PyTorch, ``var`` is clamped at ``eps`` under ``no_grad``: the
    gradient is evaluated at the clamped value and passes through the clamp unchanged.
    Negative variances raise ``ValueError`` on eager backends and give NaN under JAX
    and Dask. Gradient table: ``pred``, ``target`` and ``var``.

    Args:
        pred: predicted means ``[...]``, real floating.
        target: observations, broadcastable with ``pred``.
        var: predicted variances (see above), ``>= 0``.
        full: add the constant ``log(2 pi) / 2``.
        eps: the clamp of ``var``, ``> 0``.
        reduction, weight, where, xp: as :func:`mse` (``"mean"`` with ``weight`` divides
            by ``sum(weight)``; PyTorch has no ``weight`` here).

    Returns:
        A 0-d array, or the broadcast shape for ``"none"``.

    Examples:
        >>> import numpy as np
        >>> import arrayloss as al
        >>> float(al.gaussian_nll(np.array([1.0]), np.array([3.0]), np.array([4.0])))
        1.1931471805599454
    """
    check_option("eps", eps, lambda v: v > 0, "a number > 0")
    user_var_shape = None
    pred_shape = tuple(getattr(pred, "shape", ()))
    if hasattr(var, "shape") and tuple(var.shape) != pred_shape:
        var_shape = tuple(var.shape)
        if len(pred_shape) >= 1 and var_shape == pred_shape[:-1]:
            user_var_shape = var_shape
        elif (
            len(var_shape) == len(pred_shape)
            and sum(v for p, v in zip(pred_shape, var_shape, strict=True) if p != v) != 1
        ):
            raise ValueError(
                f"var has shape {var_shape} but pred has shape {pred_shape}; var must have "
                f"pred's shape, pred's shape without the last axis {pred_shape[:-1]}, or "
                "pred's shape with one axis of size 1"
            )
    if isinstance(var, (int, float)) and var < 0:
        raise ValueError(f"var={var} is negative; the variance must be >= 0")
    problem = prepare(
        GAUSSIAN_NLL,
        {
            "pred": pred,
            "target": target,
            "var": var if user_var_shape is None else _expand_last(var),
        },
        xp=xp,
        options={"full": bool(full), "eps": float(eps)},
        reduction=reduction,
        weight=weight,
        where=where,
    )
    if user_var_shape is not None:
        problem.user_shapes["var"] = user_var_shape
    namespace = problem.xp
    v = problem.array("var")
    if hasattr(var, "shape") and values_checkable(namespace, v):
        bad = v < 0
        check_values(
            namespace,
            bad,
            lambda: (
                f"var has a negative entry ({first_bad_value(namespace, v, bad)}); "
                "the variance must be >= 0"
            ),
        )
    return problem


def _expand_last(var: Array) -> Array:
    """``var[..., None]`` in ``var``'s own namespace (before conversion)."""
    import array_api_compat

    namespace = array_api_compat.array_namespace(var)
    return namespace.expand_dims(var, axis=-1)


@loss_function(TWEEDIE)
def tweedie_deviance(
    pred: Array,
    target: Array,
    /,
    *,
    power: float = 0.0,
    reduction: str = "mean",
    weight: Array | None = None,
    where: Array | None = None,
    xp: Namespace = None,
) -> Array:
    r"""Tweedie deviance, as scikit-learn's ``mean_tweedie_deviance(power=...)``.

    .. math:: \ell_i = 2\Bigl(\frac{\max(y_i,0)^{2-p}}{(1-p)(2-p)} -
              \frac{y_i \hat y_i^{1-p}}{1-p} + \frac{\hat y_i^{2-p}}{2-p}\Bigr),
              \qquad \frac{\partial \ell_i}{\partial \hat y_i} = 2 (\hat y_i - y_i)\,\hat y_i^{-p}

    with the limits ``p = 0`` (squared error), ``p = 1`` (Poisson deviance) and ``p = 2``
    (Gamma deviance). ``power`` in ``(0, 1)`` is undefined. Domain (as scikit-learn):
    ``p < 0``: ``pred > 0``; ``1 <= p < 2``: ``target >= 0`` and ``pred > 0``; ``p >= 2``:
    ``target > 0`` and ``pred > 0``; violations raise ``ValueError`` on eager backends
    and give NaN (or inf) under JAX and Dask. Differentiable in ``pred``. ``"mean"`` with
    ``weight`` divides by ``sum(weight)`` (``sample_weight``).

    Args:
        pred: predicted means ``[...]``, real floating.
        target: observations, broadcastable with ``pred``.
        power: the Tweedie power, not in ``(0, 1)``.
        reduction, weight, where, xp: as :func:`mse`.

    Returns:
        A 0-d array, or the broadcast shape for ``"none"``.

    Examples:
        >>> import numpy as np
        >>> import arrayloss as al
        >>> round(float(al.tweedie_deviance(np.array([2.0]), np.array([1.0]), power=1)), 12)
        0.61370563888
    """
    check_option("power", power, lambda p: not 0 < p < 1, "<= 0 or >= 1 (not in (0, 1))")
    problem = _pair(TWEEDIE, pred, target, reduction, weight, where, xp, power=float(power))
    namespace = problem.xp
    p_arr, t_arr = problem.arrays
    if values_checkable(namespace, p_arr):
        if power < 0 or power >= 1:
            _domain(namespace, "pred", p_arr, p_arr <= 0, "> 0", power)
        if 1 <= power < 2:
            _domain(namespace, "target", t_arr, t_arr < 0, ">= 0", power)
        elif power >= 2:
            _domain(namespace, "target", t_arr, t_arr <= 0, "> 0", power)
    return problem


def _domain(
    namespace: ModuleType, name: str, x: Array, bad: Array, rule: str, power: float
) -> None:
    check_values(
        namespace,
        bad,
        lambda: (
            f"{name} has an entry {first_bad_value(namespace, x, bad)} outside the "
            f"domain of the Tweedie deviance with power={power}; {name} must be {rule}"
        ),
    )
