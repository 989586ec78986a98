"""Ranking losses: the public functions (docstrings, validation, dispatch).

Both losses are element-wise, as PyTorch's: the arguments broadcast together, the
unreduced loss has their broadcast shape and ``"mean"``/``"sum"`` reduce over all
elements. PyTorch has no ``weight`` for them: ``weight`` is per element and ``"mean"``
divides by ``sum(weight)``; ``where`` masks elements out of numerator and denominator.
"""

from __future__ import annotations

from .._spec import Array, LossSpec, Namespace, kernel_spec, loss_function, prepare
from ..kernels import ranking as k

__all__ = ["hinge_embedding", "margin_ranking"]


def _spec(name: str, args: tuple[str, ...], reference: str) -> LossSpec:
    return kernel_spec(k, name, args, reference)


MARGIN_RANKING = _spec(
    "margin_ranking", ("x1", "x2", "target"), "torch.nn.functional.margin_ranking_loss"
)
HINGE_EMBEDDING = _spec(
    "hinge_embedding", ("input", "target"), "torch.nn.functional.hinge_embedding_loss"
)


@loss_function(MARGIN_RANKING)
def margin_ranking(
    x1: Array,
    x2: Array,
    target: Array,
    /,
    *,
    margin: float = 0.0,
    reduction: str = "mean",
    weight: Array | None = None,
    where: Array | None = None,
    xp: Namespace = None,
) -> Array:
    r"""Margin ranking loss, as ``torch.nn.functional.margin_ranking_loss``.

    .. math:: \ell_i = \max\bigl(-y_i (x_{1,i} - x_{2,i}) + m,\ 0\bigr), \qquad
              \frac{\partial \ell_i}{\partial x_{1,i}} = -y_i\,
              [-y_i (x_{1,i} - x_{2,i}) + m \ge 0] = -\frac{\partial \ell_i}{\partial x_{2,i}}

    ``target`` 1 asks for ``x1`` to rank above ``x2`` by ``margin``, -1 the reverse;
    like PyTorch, any real ``target`` is accepted and used as a factor. At the tie
    (``-y (x1 - x2) + m = 0``) the gradient passes, as PyTorch's ``clamp_min``.

    Reference: ``torch.nn.functional.margin_ranking_loss`` (values and gradients); the
    arguments broadcast (PyTorch also requires equal ranks). ``"mean"`` with ``weight``
    divides by ``sum(weight)``.

    Args:
        x1: scores ``[...]``, real floating.
        x2: scores, broadcastable with ``x1``.
        target: 1 or -1 (or any real factor), broadcastable with ``x1``.
        margin: the margin ``m``.
        reduction: ``"none"``, ``"sum"`` or ``"mean"``.
        weight: per-element weights.
        where: boolean mask of the elements to keep.
        xp: array namespace or backend name; default: the inputs' library.

    Returns:
        A 0-d array, or the broadcast shape for ``"none"``.

    Examples:
        >>> import numpy as np
        >>> import arrayloss as al
        >>> x1, x2 = np.array([1.0, 0.2]), np.array([0.5, 0.5])
        >>> al.margin_ranking(x1, x2, np.array([1.0, 1.0]), margin=0.1, reduction="none").tolist()
        [0.0, 0.4]
    """
    return prepare(
        MARGIN_RANKING,
        {"x1": x1, "x2": x2, "target": target},
        xp=xp,
        options={"margin": float(margin)},
        reduction=reduction,
        weight=weight,
        where=where,
    )


@loss_function(HINGE_EMBEDDING)
def hinge_embedding(
    input: Array,
    target: Array,
    /,
    *,
    margin: float = 1.0,
    reduction: str = "mean",
    weight: Array | None = None,
    where: Array | None = None,
    xp: Namespace = None,
) -> Array:
    r"""Hinge embedding loss, as ``torch.nn.functional.hinge_embedding_loss``.

    .. math:: \ell_i = [y_i \ne 1] \max(m - x_i, 0) + [y_i \ne -1]\, x_i, \qquad
              \frac{\partial \ell_i}{\partial x_i} = -[y_i \ne 1][m - x_i \ge 0]
              + [y_i \ne -1]

    ``input`` is typically a distance between two embeddings: ``target = 1`` gives
    ``x`` (pull similar pairs together), ``target = -1`` gives ``max(margin - x, 0)``
    (push dissimilar pairs past the margin). Other target values are read exactly as
    PyTorch reads them: both terms apply, ``max(margin - x, 0) + x``. At the hinge
    (``x = margin``) the gradient passes, as PyTorch's ``clamp_min``.

    Reference: ``torch.nn.functional.hinge_embedding_loss`` (values and gradients).
    Differentiable in ``input``. ``"mean"`` with ``weight`` divides by ``sum(weight)``.

    Args:
        input: scores or distances ``[...]``, real floating.
        target: 1 or -1, broadcastable with ``input``.
        margin: the margin ``m``.
        reduction: ``"none"``, ``"sum"`` or ``"mean"``.
        weight: per-element weights.
        where: boolean mask of the elements to keep.
        xp: array namespace or backend name; default: the inputs' library.

    Returns:
        A 0-d array, or the broadcast shape for ``"none"``.

    Examples:
        >>> import numpy as np
        >>> import arrayloss as al
        >>> x = np.array([0.3, 0.3, 2.0])
        >>> al.hinge_embedding(x, np.array([1, -1, -1]), reduction="none").tolist()
        [0.3, 0.7, 0.0]
    """
    return prepare(
        HINGE_EMBEDDING,
        {"input": input, "target": target},
        xp=xp,
        options={"margin": float(margin)},
        reduction=reduction,
        weight=weight,
        where=where,
    )
