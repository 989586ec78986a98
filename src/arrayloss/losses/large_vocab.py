"""Large-vocabulary cross-entropy: ``chunked_cross_entropy`` and ``linear_cross_entropy``.

Both compute PyTorch's ``cross_entropy`` of integer targets (with ``weight``,
``ignore_index``, ``label_smoothing`` and every reduction) without ever holding more
than one block of ``[chunk_size, vocab_chunk_size]`` logits; ``linear_cross_entropy``
never forms ``hidden @ weight.T`` at all. See :mod:`arrayloss.kernels.large_vocab`.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from .. import _dispatch, fast
from .._reduce import loss_cotangent, reduce_loss
from .._spec import Array, LossSpec, Namespace, Problem, loss_function, prepare
from .._validate import (
    check_floating,
    check_integer,
    check_option,
    check_values,
    first_bad_value,
    values_checkable,
)
from ..kernels import large_vocab as k

__all__ = ["chunked_cross_entropy", "linear_cross_entropy"]


def _options(options: dict[str, Any]) -> k.SweepOptions:
    """The sweep's options (``overwrite_logits`` only concerns the NumPy fast path)."""
    return k.SweepOptions(
        ignore_index=options["ignore_index"],
        label_smoothing=options["label_smoothing"],
        chunk_size=options["chunk_size"],
        vocab_chunk_size=options["vocab_chunk_size"],
    )


def _source(name: str, arrays: tuple[Any, ...]) -> tuple[Any, Any, Any]:
    """(logit source, target, class weight) from a problem's arrays."""
    if name == "chunked_cross_entropy":
        logits, target, class_weight = arrays
        return k.GivenLogits(logits), target, class_weight
    hidden, weight, target, bias, class_weight = arrays
    return k.LinearLogits(hidden, weight, bias), target, class_weight


def _make_kernels(name: str) -> tuple[Any, Any, dict[str, Any]]:
    def value(xp: ModuleType, *arrays: Any, **options: Any) -> Any:
        source, target, class_weight = _source(name, arrays)
        return k.sweep(xp, source, target, class_weight, _options(options), arrays[0].dtype)

    def vjp(xp: ModuleType, *arrays: Any, wrt: tuple[str, ...], **options: Any) -> Any:
        losses = value(xp, *arrays, **options)

        def pullback(cot: Any) -> tuple[Any, ...]:
            return _grads(xp, name, arrays, options, cot, wrt)[1]

        return losses, pullback

    def entry(arg: str) -> Any:
        def grad(xp: ModuleType, cot: Any, *arrays: Any, **options: Any) -> Any:
            return _grads(xp, name, arrays, options, cot, (arg,))[1][0]

        return grad

    wrt = ("logits",) if name == "chunked_cross_entropy" else ("hidden", "weight", "bias")
    return value, vjp, {arg: entry(arg) for arg in wrt}


def _grads(
    xp: ModuleType,
    name: str,
    arrays: tuple[Any, ...],
    options: dict[str, Any],
    cot: Any,
    wrt: tuple[str, ...],
) -> tuple[Any, tuple[Any, ...]]:
    """One sweep: per-row losses and the gradients for ``wrt`` given the row cotangent."""
    source, target, class_weight = _source(name, arrays)
    blocks = k.GradientBlocks(xp, source, wrt)
    losses = k.sweep(
        xp,
        source,
        target,
        class_weight,
        _options(options),
        arrays[0].dtype,
        cot=cot,
        on_block_grad=blocks.add,
    )
    return losses, blocks.result()


_CHUNKED_VALUE, _CHUNKED_VJP, _CHUNKED_GRADS = _make_kernels("chunked_cross_entropy")
_LINEAR_VALUE, _LINEAR_VJP, _LINEAR_GRADS = _make_kernels("linear_cross_entropy")

#: The gradient tables of the two losses.
GRADS = {"chunked_cross_entropy": _CHUNKED_GRADS, "linear_cross_entropy": _LINEAR_GRADS}


def _jax_value(problem: Problem) -> Any:
    from ..fast import large_vocab_jax

    if not large_vocab_jax.supported(problem):
        return NotImplemented
    return large_vocab_jax.jax_value(problem)


CHUNKED = LossSpec(
    name="chunked_cross_entropy",
    args=("logits", "target", "class_weight"),
    wrt=("logits",),
    value=_CHUNKED_VALUE,
    grads=_CHUNKED_GRADS,
    vjp=_CHUNKED_VJP,
    reference="torch.nn.functional.cross_entropy",
    elementwise=False,
    index_args=("target",),
    second_order=False,
    jax_value=_jax_value,
)
LINEAR = LossSpec(
    name="linear_cross_entropy",
    args=("hidden", "weight", "target", "bias", "class_weight"),
    wrt=("hidden", "weight", "bias"),
    value=_LINEAR_VALUE,
    grads=_LINEAR_GRADS,
    vjp=_LINEAR_VJP,
    reference="torch.nn.functional.linear_cross_entropy",
    elementwise=False,
    index_args=("target",),
    second_order=False,
    jax_value=_jax_value,
)


def _fused(problem: Problem, wrt: tuple[str, ...], cotangent: Any) -> Any:
    """Value and gradients in ONE sweep: the row cotangent is known before the loss
    (it depends only on the targets, weights, mask and reduction), so each block's
    gradient is formed while the block is in memory (3 matmuls, as materialised)."""
    xp = problem.xp
    name = problem.spec.name
    n_rows = int(problem.arrays[0].shape[0])
    if not wrt:
        losses = problem.spec.value(xp, *problem.arrays, **problem.options)
        cot_losses = losses
    else:
        shape_only = xp.zeros((n_rows,), dtype=problem.arrays[0].dtype)
        cot = loss_cotangent(
            xp,
            shape_only,
            reduction=problem.reduction,
            weight=problem.weight,
            where=problem.where,
            denominator=problem.denominator,
            cotangent=cotangent,
        )
        cot_losses, grads = _grads(xp, name, problem.arrays, problem.options, cot, wrt)
        reduced = _reduce(problem, cot_losses)
        return reduced, grads
    return _reduce(problem, cot_losses), ()


def _reduce(problem: Problem, losses: Any) -> Any:
    return reduce_loss(
        problem.xp,
        losses,
        reduction=problem.reduction,
        weight=problem.weight,
        where=problem.where,
        denominator=problem.denominator,
    )


def _numpy_fused(problem: Problem, wrt: tuple[str, ...], cotangent: Any) -> Any:
    from ..fast.large_vocab_numpy import fused_numpy

    return fused_numpy(problem, wrt, cotangent, _fused)


def _jax_fused(problem: Problem, wrt: tuple[str, ...], cotangent: Any) -> Any:
    """``al.value_and_grad`` on JAX arrays: ``jax.vjp`` of the scanned ``custom_vjp``."""
    own = _jax_value(problem)
    if own is NotImplemented or not wrt:
        return own if own is NotImplemented else (own, ())
    import dataclasses

    import jax

    index = [problem.spec.args.index(name) for name in wrt]

    def of(*diff: Any) -> Any:
        arrays = list(problem.arrays)
        for i, a in zip(index, diff, strict=True):
            arrays[i] = a
        return _jax_value(dataclasses.replace(problem, arrays=tuple(arrays)))

    value, pullback = jax.vjp(of, *(problem.arrays[i] for i in index))
    g = (
        problem.xp.ones_like(value)
        if cotangent is None
        else problem.xp.broadcast_to(problem.xp.asarray(cotangent, dtype=value.dtype), value.shape)
    )
    return value, pullback(g)


for _name in ("chunked_cross_entropy", "linear_cross_entropy"):
    fast.register(_name, "numpy")(_numpy_fused)
    fast.register(_name, "jax")(_jax_fused)
    for _backend in ("torch", "array_api_strict", "dask", "cupy"):
        fast.register(_name, _backend)(_fused)


def _common(
    spec: LossSpec,
    arrays: dict[str, Any],
    logits_like: str,
    *,
    class_weight: Any,
    ignore_index: int,
    label_smoothing: float,
    chunk_size: int | None,
    vocab_chunk_size: int | None,
    reduction: str,
    where: Any,
    xp: Namespace,
) -> Problem:
    check_option("label_smoothing", label_smoothing, lambda v: 0 <= v <= 1, "in [0, 1]")
    if isinstance(ignore_index, bool) or not isinstance(ignore_index, int):
        raise TypeError(
            f"ignore_index must be an int, got {ignore_index!r} ({type(ignore_index).__name__})"
        )
    for option_name, size in (("chunk_size", chunk_size), ("vocab_chunk_size", vocab_chunk_size)):
        if size is not None:
            check_option(
                option_name, size, lambda v: isinstance(v, int) and v >= 1, "an int >= 1 (or None)"
            )
    target = arrays["target"]
    namespace, explicit = _dispatch.resolve_namespace(
        {**arrays, "class_weight": class_weight, "where": where}, xp
    )
    if explicit:
        target = _dispatch.convert(target, namespace)
    if not hasattr(target, "dtype"):
        target = namespace.asarray(target)
    check_integer(namespace, "target", target)
    first = _dispatch.convert(arrays[logits_like], namespace) if explicit else arrays[logits_like]
    check_floating(namespace, logits_like, first)
    n_rows = int(first.shape[0]) if first.ndim else 0
    n_classes = _n_classes(spec, arrays)
    if tuple(target.shape) != (n_rows,):
        raise ValueError(
            f"target has shape {tuple(target.shape)} but {logits_like} has {n_rows} rows; "
            f"target must have shape ({n_rows},) (one class index per row)"
        )
    if class_weight is not None and tuple(class_weight.shape) != (n_classes,):
        raise ValueError(
            f"class_weight has shape {tuple(class_weight.shape)}; it must have shape "
            f"({n_classes},) (one weight per class)"
        )
    itemsize = 4 if "float32" in str(first.dtype) or "16" in str(first.dtype) else 8
    options = {
        "ignore_index": ignore_index,
        "label_smoothing": float(label_smoothing),
        "chunk_size": chunk_size or k.default_chunk_size(n_rows, n_classes, itemsize),
        "vocab_chunk_size": vocab_chunk_size or max(1, n_classes),
    }
    problem = prepare(
        spec,
        {**arrays, "target": target, "class_weight": class_weight},
        xp=namespace if explicit else xp,
        options=options,
        reduction=reduction,
        where=where,
        denominator="weight",
        loss_shape=(n_rows,),
    )
    target = problem.array("target")
    keep = target != ignore_index
    if values_checkable(problem.xp, target):
        bad = keep & ((target < 0) | (target >= n_classes))
        check_values(
            problem.xp,
            bad,
            lambda: (
                f"target has a class index {first_bad_value(problem.xp, target, bad)} outside "
                f"[0, {n_classes}); class indices must be in [0, {n_classes}) or equal ignore_index={ignore_index}"
            ),
        )
    # PyTorch's "mean" divides by the class weights of the kept targets (the count of
    # kept targets without class weights); the kernel has applied the weights already.
    namespace = problem.xp
    kept = keep if problem.where is None else keep & problem.where
    safe = namespace.where(keep, target, namespace.zeros_like(target))
    cw = problem.array("class_weight")
    dtype = problem.arrays[0].dtype
    w_target = (
        namespace.ones(target.shape, dtype=dtype)
        if cw is None
        else namespace.take(cw, safe, axis=0)
    )
    problem.denominator = namespace.sum(
        namespace.where(kept, w_target, namespace.zeros_like(w_target))
    )
    return problem


def _n_classes(spec: LossSpec, arrays: dict[str, Any]) -> int:
    name = "logits" if spec is CHUNKED else "weight"
    shape = tuple(arrays[name].shape)
    if len(shape) != 2:
        layout = "[N, V]" if spec is CHUNKED else "[V, H]"
        raise ValueError(f"{name} has shape {shape}; it must be 2-D {layout}")
    return int(shape[1] if spec is CHUNKED else shape[0])


@loss_function(CHUNKED)
def chunked_cross_entropy(
    logits: Array,
    target: Array,
    /,
    *,
    class_weight: Array | None = None,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    chunk_size: int | None = None,
    vocab_chunk_size: int | None = None,
    overwrite_logits: bool = False,
    reduction: str = "mean",
    where: Array | None = None,
    xp: Namespace = None,
) -> Array:
    r"""Cross-entropy of ``[N, V]`` logits and integer targets, block by block.

    .. math:: \ell_i = (1-ε)\, w_{y_i} (\mathrm{lse}(z_i) - z_{i y_i})
              + \frac{ε}{V} \sum_c w_c (\mathrm{lse}(z_i) - z_{ic})

    The same numbers as ``cross_entropy`` / ``torch.nn.functional.cross_entropy`` (with
    ``weight=class_weight``), computed with a streaming log-sum-exp over row and
    vocabulary blocks; the gradient is written block by block. Use it when the logits
    fit in memory but their temporaries (softmax, gradient copies) do not.

    Args:
        logits: ``[N, V]``, real floating.
        target: ``[N]`` integer class indices.
        overwrite_logits: allow the gradient to be written over ``logits`` (as
            Liger-Kernel does) so no second ``[N, V]`` buffer is needed; the contents of
            ``logits`` are unspecified afterwards. Used by the NumPy fast path when
            ``logits`` is a writable float array of the compute dtype; elsewhere a new
            buffer is used.
        class_weight: per-class weights ``[V]`` (PyTorch's ``weight`` of
            ``cross_entropy``); ``"mean"`` divides by the sum of the kept targets' weights.
        ignore_index: rows whose target equals it contribute 0 (and get zero gradient).
        label_smoothing: ``ε`` in ``[0, 1]``, as PyTorch.
        chunk_size: token rows per block (default: at most 64 MiB of logits and at most
            1/16 of the rows, so the extra memory stays under 10 % of the logits).
        vocab_chunk_size: classes per block (default: the whole vocabulary); smaller
            blocks stream the log-sum-exp and recompute each block for the gradient.
        reduction: ``"none"`` (per row, ``[N]``), ``"sum"`` or ``"mean"``.
        where: boolean mask ``[N]`` of the rows to keep.
        xp: array namespace or backend name.

    Returns:
        A 0-d array, or ``[N]`` for ``"none"``.

    Examples:
        >>> import numpy as np
        >>> import arrayloss as al
        >>> logits = np.log(np.array([[0.5, 0.25, 0.25], [0.1, 0.1, 0.8]]))
        >>> al.chunked_cross_entropy(logits, np.array([0, 2]), chunk_size=1, reduction="none").round(6).tolist()
        [0.693147, 0.223144]
    """
    problem = _common(
        CHUNKED,
        {"logits": logits, "target": target},
        "logits",
        class_weight=class_weight,
        ignore_index=ignore_index,
        label_smoothing=label_smoothing,
        chunk_size=chunk_size,
        vocab_chunk_size=vocab_chunk_size,
        reduction=reduction,
        where=where,
        xp=xp,
    )
    problem.options["overwrite_logits"] = bool(overwrite_logits)
    return problem


@loss_function(LINEAR)
def linear_cross_entropy(
    hidden: Array,
    weight: Array,
    target: Array,
    /,
    *,
    bias: Array | None = None,
    class_weight: Array | None = None,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    chunk_size: int | None = None,
    vocab_chunk_size: int | None = None,
    reduction: str = "mean",
    where: Array | None = None,
    xp: Namespace = None,
) -> Array:
    r"""Cross-entropy of ``hidden @ weight.T + bias`` without forming those logits.

    .. math:: z = h W^\top + b, \qquad \ell_i = \mathrm{CE}(z_i, y_i), \qquad
              \frac{\partial L}{\partial h} = G W,\ \frac{\partial L}{\partial W} = G^\top h,\
              \frac{\partial L}{\partial b} = \textstyle\sum_i G_i

    with ``G`` the gradient of the loss in the logits, formed one block at a time and
    never stored whole. Reference: ``torch.nn.functional.linear_cross_entropy(input,
    linear_weight, target, linear_bias=..., weight=...)``, i.e. ``F.cross_entropy(hidden
    @ weight.T + bias, target)``. ``weight`` is the ``[V, H]`` projection (PyTorch's
    ``linear_weight``), so the per-class weight is ``class_weight``. Gradient table:
    ``hidden``, ``weight`` and ``bias``; value and all gradients come out of one sweep
    over the blocks.

    Args:
        hidden: ``[N, H]`` hidden states, real floating.
        weight: ``[V, H]`` output projection.
        target: ``[N]`` integer class indices.
        bias: ``[V]`` or None.
        class_weight: per-class weights ``[V]`` (PyTorch's ``weight`` of
            ``cross_entropy``); ``"mean"`` divides by the sum of the kept targets' weights.
        ignore_index: rows whose target equals it contribute 0 (and get zero gradient).
        label_smoothing: ``ε`` in ``[0, 1]``, as PyTorch.
        chunk_size: token rows per block (default: at most 64 MiB of logits and at most
            1/16 of the rows, so the extra memory stays under 10 % of the logits).
        vocab_chunk_size: classes per block (default: the whole vocabulary); smaller
            blocks stream the log-sum-exp and recompute each block for the gradient.
        reduction: ``"none"`` (per row, ``[N]``), ``"sum"`` or ``"mean"``.
        where: boolean mask ``[N]`` of the rows to keep.
        xp: array namespace or backend name.

    Returns:
        A 0-d array, or ``[N]`` for ``"none"``.

    Examples:
        >>> import numpy as np
        >>> import arrayloss as al
        >>> hidden = np.array([[1.0, 0.0], [0.0, 1.0]])
        >>> weight = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
        >>> round(float(al.linear_cross_entropy(hidden, weight, np.array([2, 1]))), 6)
        0.861995
    """
    if bias is not None and tuple(getattr(bias, "shape", ())) != (tuple(weight.shape)[0],):
        raise ValueError(
            f"bias has shape {tuple(getattr(bias, 'shape', ()))}; it must have shape "
            f"({tuple(weight.shape)[0]},) (one entry per class, the rows of weight)"
        )
    if tuple(hidden.shape)[-1:] != tuple(weight.shape)[-1:]:
        raise ValueError(
            f"hidden has shape {tuple(hidden.shape)} but weight has shape {tuple(weight.shape)}; "
            "their last axes (the hidden size H) must be equal"
        )
    return _common(
        LINEAR,
        {"hidden": hidden, "weight": weight, "target": target, "bias": bias},
        "hidden",
        class_weight=class_weight,
        ignore_index=ignore_index,
        label_smoothing=label_smoothing,
        chunk_size=chunk_size,
        vocab_chunk_size=vocab_chunk_size,
        reduction=reduction,
        where=where,
        xp=xp,
    )
