"""What a loss is, as data: its kernel, gradient table, arguments and capabilities.

A :class:`LossSpec` is the one record per loss that the dispatcher, the autodiff
wiring, the fast paths, the registry, the docs table and the test marks all read.
The public function (``losses/<family>.py``) validates its arguments and returns a
:class:`Problem` (via :func:`prepare`); the :func:`loss_function` decorator hands that
problem to the engine, so ``al.grad(loss)`` can reuse the very same validation.
"""

from __future__ import annotations

import functools
import inspect
import math
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import numpy as np

from . import _dispatch
from ._explicit_sharding import call_with_auto_axes, explicit_mesh, value_spec
from ._reduce import Denominator, prepare_mask, prepare_weight
from ._validate import (
    broadcast_shapes,
    check_choice,
    check_flag,
    check_floating,
    check_same_device,
    dtype_is,
)

__all__ = [
    "ALL_BACKENDS",
    "Array",
    "LossRecord",
    "LossSpec",
    "Namespace",
    "Problem",
    "get_spec",
    "kernel_spec",
    "loss_function",
    "prepare",
    "registry",
]

#: The backends every loss is tested on unless its spec says otherwise.
ALL_BACKENDS = ("numpy", "array_api_strict", "jax", "torch", "dask", "cupy")

#: an array of any supported library (annotation for the public functions)
Array = Any
#: what ``xp=`` accepts: a namespace module, a backend name, or None
Namespace = ModuleType | str | None

ValueKernel = Callable[..., Any]
GradKernel = Callable[..., Any]
VjpKernel = Callable[..., tuple[Any, Callable[[Any], tuple[Any, ...]]]]


@dataclass(frozen=True)
class LossSpec:
    """A loss as the engine sees it.

    Attributes:
        name: public name (``"mse"``).
        args: names of the array arguments, in order (``("pred", "target")``).
        wrt: the differentiable ones, each a key of ``grads``.
        value: ``value(xp, *arrays, **options) -> unreduced loss``.
        grads: the gradient table, ``{arg: grad(xp, cot, *arrays, **options)}``, where
            ``cot`` is the cotangent of the unreduced loss (broadcast to its shape, with
            the reduction's scale, weights and mask folded in); each returns an array
            broadcastable to that argument's shape.
        vjp: optional fused kernel ``vjp(xp, *arrays, wrt=(...), **options) -> (loss,
            pullback)`` sharing intermediates between value and gradients;
            ``pullback(cot)`` returns the gradients for ``wrt`` in order.
        reference: the library function reproduced (``"torch.nn.functional.mse_loss"``).
        elementwise: the unreduced loss has the broadcast shape of the arguments, so
            arguments are checked to broadcast and ``where`` zeroes gradients per element.
        index_args: arguments holding integers (class indices) that are never cast.
        denominator: the ``"mean"`` denominator rule (see ``_reduce``).
        reductions: accepted ``reduction`` values.
        post: optional ``(f, df)`` applied to the reduced value (``rmse = sqrt(mse)``).
        jit_safe: traces under ``jax.jit`` (no value-dependent Python control flow).
        lazy_safe: stays lazy under Dask.
        backends: backend names it is tested on.
        second_order: whether gradients of the gradient are available under JAX.
        jax_value: a loss-specific JAX implementation (its own ``custom_vjp``), tried
            before the generic wiring.
    """

    name: str
    args: tuple[str, ...]
    wrt: tuple[str, ...]
    value: ValueKernel
    grads: Mapping[str, GradKernel]
    reference: str
    vjp: VjpKernel | None = None
    elementwise: bool = True
    index_args: tuple[str, ...] = ()
    denominator: Denominator = "weight"
    reductions: tuple[str, ...] = ("none", "sum", "mean")
    post: tuple[Callable[..., Any], Callable[..., Any]] | None = None
    jit_safe: bool = True
    lazy_safe: bool = True
    backends: tuple[str, ...] = ALL_BACKENDS
    second_order: bool = True
    #: optional ``f(problem) -> value | NotImplemented`` used for JAX arrays instead of
    #: the generic custom_vjp wiring (a loss with its own residual policy)
    jax_value: Callable[[Any], Any] | None = None

    def __post_init__(self) -> None:
        missing = [a for a in self.wrt if a not in self.grads]
        if missing:
            raise ValueError(f"{self.name}: no gradient table entry for {missing}")


def kernel_spec(
    kernels: ModuleType, name: str, args: tuple[str, ...], reference: str, **fields: Any
) -> LossSpec:
    """A :class:`LossSpec` from a kernel module's ``VALUES``/``GRADS`` (and ``VJPS``) tables.

    ``wrt`` defaults to the table's entries, in table order; ``fields`` override any
    other :class:`LossSpec` field.
    """
    grads = fields.pop("grads", None) or kernels.GRADS[name]
    fused = getattr(kernels, "VJPS", {}).get(name)
    return LossSpec(
        name=name,
        args=args,
        wrt=fields.pop("wrt", None) or tuple(grads),
        value=fields.pop("value", None) or kernels.VALUES[name],
        grads=grads,
        vjp=fields.pop("vjp", fused),
        reference=reference,
        **fields,
    )


@dataclass(frozen=True)
class LossRecord:
    """One row of :func:`arrayloss.registry`: a loss's capabilities."""

    name: str
    args: tuple[str, ...]
    wrt: tuple[str, ...]
    backends: tuple[str, ...]
    jit_safe: bool
    lazy_safe: bool
    reference: str
    reductions: tuple[str, ...]
    family: str


@dataclass
class Problem:
    """A validated call: the arrays in the compute dtype and the static options."""

    spec: LossSpec
    xp: ModuleType
    arrays: tuple[Any, ...]
    options: dict[str, Any]
    reduction: str
    weight: Any = None
    where: Any = None
    denominator: Denominator = None
    out_dtype: Any = None
    arg_shapes: tuple[tuple[Any, ...], ...] = ()
    arg_dtypes: tuple[Any, ...] = ()
    loss_shape: tuple[Any, ...] | None = None
    #: shapes the caller gave, for arguments the loss reshaped before the kernel
    user_shapes: dict[str, tuple[Any, ...]] = field(default_factory=dict)

    @property
    def backend(self) -> str:
        return _dispatch.backend_name(self.xp)

    def array(self, name: str) -> Any:
        return self.arrays[self.spec.args.index(name)]


_REGISTRY: dict[str, tuple[LossSpec, Callable[..., Any], str]] = {}


def get_spec(loss: Callable[..., Any] | str) -> LossSpec:
    """The spec behind a public loss function (or its name)."""
    if isinstance(loss, str):
        try:
            return _REGISTRY[loss][0]
        except KeyError:
            valid = ", ".join(sorted(_REGISTRY))
            raise ValueError(f"unknown loss {loss!r}; known losses are {valid}") from None
    spec = getattr(loss, "__arrayloss_spec__", None)
    if spec is None:
        raise TypeError(
            f"{getattr(loss, '__name__', loss)!r} is not an arrayloss loss; "
            "al.grad and al.value_and_grad take functions such as al.mse"
        )
    return spec


def registry() -> dict[str, LossRecord]:
    """Every loss with its array arguments, differentiable arguments and capabilities."""
    return {
        name: LossRecord(
            name=spec.name,
            args=spec.args,
            wrt=spec.wrt,
            backends=spec.backends,
            jit_safe=spec.jit_safe,
            lazy_safe=spec.lazy_safe,
            reference=spec.reference,
            reductions=spec.reductions,
            family=family,
        )
        for name, (spec, _, family) in sorted(_REGISTRY.items())
    }


def public_functions() -> dict[str, Callable[..., Any]]:
    """Name -> public function, for every registered loss."""
    return {name: fn for name, (_, fn, _) in sorted(_REGISTRY.items())}


def loss_function(spec: LossSpec, *, aliases: tuple[str, ...] = ()) -> Callable[..., Any]:
    """Decorate a function that validates its arguments and returns a :class:`Problem`.

    The decorated function keeps the signature and docstring, evaluates the problem
    with the engine, and is registered under ``spec.name`` (and ``aliases``).
    """

    def decorate(body: Callable[..., Problem]) -> Callable[..., Any]:
        from . import _engine

        # options with a True/False default take only booleans: a truthy string such as
        # "no" would silently mean True
        flags = tuple(
            name
            for name, p in inspect.signature(body).parameters.items()
            if isinstance(p.default, bool)
        )

        @functools.wraps(body)
        def prepare_checked(*args: Any, **kwargs: Any) -> Problem:
            for name in flags:
                if name in kwargs:
                    check_flag(name, kwargs[name])
            return body(*args, **kwargs)

        def evaluate(*args: Any, **kwargs: Any) -> Any:
            return _engine.value(prepare_checked(*args, **kwargs))

        @functools.wraps(body)
        def public(*args: Any, **kwargs: Any) -> Any:
            if torch_compiling():
                from ._autodiff_torch import outside_graph

                return outside_graph(evaluate, *args, **kwargs)
            mesh = explicit_mesh(args, kwargs)
            if mesh is not None:  # JAX arrays sharded over Explicit mesh axes
                return call_with_auto_axes(
                    evaluate,
                    mesh,
                    args,
                    kwargs,
                    kind=spec.name,
                    layout=lambda a, _, out: value_spec(a, out),
                )
            return evaluate(*args, **kwargs)

        public.__arrayloss_spec__ = spec  # type: ignore[attr-defined]
        public.__arrayloss_prepare__ = prepare_checked  # type: ignore[attr-defined]
        family = body.__module__.rsplit(".", 1)[-1]
        _REGISTRY[spec.name] = (spec, public, family)
        for alias in aliases:
            _REGISTRY[alias] = (spec, public, family)
        return public

    return decorate


def torch_compiling() -> bool:
    """True while ``torch.compile`` traces the caller: losses then run outside its graph."""
    torch = sys.modules.get("torch")
    return torch is not None and bool(torch.compiler.is_compiling())


def _is_low_precision(dtype: Any) -> bool:
    return str(dtype).split(".")[-1] in ("float16", "bfloat16")


def _floating_dtype(xp: ModuleType, arrays: list[Any]) -> Any:
    dtypes = [a.dtype for a in arrays]
    if not dtypes:
        return xp.float64 if _dispatch.backend_name(xp) != "torch" else xp.float32
    if len(dtypes) == 1:
        return dtypes[0]
    return xp.result_type(*dtypes)


def prepare(
    spec: LossSpec,
    arrays: Mapping[str, Any],
    *,
    xp: ModuleType | str | None,
    options: Mapping[str, Any] | None = None,
    reduction: str = "mean",
    weight: Any = None,
    where: Any = None,
    denominator: Denominator = None,
    loss_shape: tuple[Any, ...] | None = None,
) -> Problem:
    """Resolve the namespace, convert and check the arrays, and build a :class:`Problem`.

    Differentiable arguments must be real floating; other non-index arguments are cast
    to the compute dtype, which is the promoted floating dtype of the inputs, with
    float16/bfloat16 raised to float32 (the result comes back in the input dtype).
    """
    check_choice("reduction", reduction, spec.reductions)
    if xp is None and weight is None and where is None:
        quick = _plain_numpy(spec, arrays, options, reduction, denominator, loss_shape)
        if quick is not None:
            return quick
    namespace, explicit = _dispatch.resolve_namespace(
        {**arrays, "weight": weight, "where": where}, xp
    )
    converted: dict[str, Any] = {}
    for name in spec.args:
        a = arrays.get(name)
        converted[name] = _dispatch.convert(a, namespace) if explicit else a
    if explicit:
        weight = _dispatch.convert(weight, namespace)
        where = _dispatch.convert(where, namespace)

    float_arrays = []
    for name in spec.wrt:
        a = converted[name]
        if a is None:
            continue
        if not hasattr(a, "dtype"):
            continue
        check_floating(namespace, name, a)
        float_arrays.append(a)
    for name in spec.args:
        a = converted[name]
        if name in spec.wrt or name in spec.index_args or not hasattr(a, "dtype"):
            continue
        if dtype_is(namespace, a.dtype, "complex floating"):
            raise TypeError(f"{name} must be real, got dtype {a.dtype}")
        if dtype_is(namespace, a.dtype, "real floating"):
            float_arrays.append(a)
    out_dtype = _floating_dtype(namespace, float_arrays)
    compute_dtype = namespace.float32 if _is_low_precision(out_dtype) else out_dtype
    # pairs, not a dict: linear_cross_entropy has an array argument named "weight"
    check_same_device(namespace, [*converted.items(), ("weight", weight), ("where", where)])
    device = _dispatch_device(
        float_arrays or [a for a in converted.values() if hasattr(a, "dtype")]
    )

    final: list[Any] = []
    for name in spec.args:
        a = converted[name]
        if a is None:
            final.append(None)
            continue
        if not hasattr(a, "dtype"):
            if name in spec.index_args:
                a = namespace.asarray(a, device=device)
            else:
                a = namespace.asarray(a, dtype=compute_dtype, device=device)
        elif name not in spec.index_args and a.dtype != compute_dtype:
            a = namespace.astype(a, compute_dtype)
        final.append(a)

    _check_known_lengths(
        {**dict(zip(spec.args, final, strict=True)), "weight": weight, "where": where}
    )
    shapes = tuple(tuple(a.shape) if a is not None else () for a in final)
    dtypes = tuple(
        (converted[n].dtype if hasattr(converted[n], "dtype") else None) for n in spec.args
    )
    if spec.elementwise:
        present = [
            (n, s) for n, s, a in zip(spec.args, shapes, final, strict=True) if a is not None
        ]
        loss_shape = broadcast_shapes(*present)
    if loss_shape is not None:
        weight = prepare_weight(namespace, weight, loss_shape, compute_dtype)
        where = prepare_mask(namespace, where, loss_shape)
    else:
        if weight is not None and not hasattr(weight, "shape"):
            weight = namespace.asarray(weight, dtype=compute_dtype, device=device)
        elif weight is not None and weight.dtype != compute_dtype:
            weight = namespace.astype(weight, compute_dtype)
        if where is not None:
            where = prepare_mask(namespace, where, tuple(where.shape))
    return Problem(
        spec=spec,
        xp=namespace,
        arrays=tuple(final),
        options=dict(options or {}),
        reduction=reduction,
        weight=weight,
        where=where,
        denominator=spec.denominator if denominator is None else denominator,
        out_dtype=out_dtype,
        arg_shapes=shapes,
        arg_dtypes=dtypes,
        loss_shape=loss_shape,
    )


_PLAIN_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def _plain_numpy(
    spec: LossSpec,
    arrays: Mapping[str, Any],
    options: Mapping[str, Any] | None,
    reduction: str,
    denominator: Denominator,
    loss_shape: tuple[Any, ...] | None,
) -> Problem | None:
    """The common call, built without the general machinery: float32/float64 NumPy
    arrays of one dtype and (for element-wise losses) one shape, no ``xp``, backend
    context, weight or mask. Everything the general path would check holds by
    construction (one library, one device, nothing to convert, cast or broadcast); any
    other call returns None and takes the general path. This keeps a small call within
    a few microseconds of the hand-written NumPy formula."""
    if _dispatch.active_backend() is not None:
        return None
    values = [arrays.get(name) for name in spec.args]
    first = values[0]
    if type(first) is not np.ndarray or first.dtype not in _PLAIN_FLOATS:
        return None
    dtype = first.dtype
    for name, a in zip(spec.args, values, strict=True):
        if a is None:
            continue
        if type(a) is not np.ndarray:
            return None
        if name in spec.index_args:
            continue
        if a.dtype != dtype or (spec.elementwise and a.shape != first.shape):
            return None
    return Problem(
        spec=spec,
        xp=_dispatch.numpy_namespace(),
        arrays=tuple(values),
        options=dict(options or {}),
        reduction=reduction,
        denominator=spec.denominator if denominator is None else denominator,
        out_dtype=dtype,
        arg_shapes=tuple(tuple(a.shape) if a is not None else () for a in values),
        arg_dtypes=tuple(a.dtype if a is not None else None for a in values),
        loss_shape=tuple(first.shape) if spec.elementwise else loss_shape,
    )


def _check_known_lengths(arrays: Mapping[str, Any]) -> None:
    """ValueError for a Dask array of unknown chunk sizes (NaN lengths, as after boolean
    indexing): the shape checks and the element count of ``"mean"`` need the lengths."""
    for name, a in arrays.items():
        shape = tuple(getattr(a, "shape", ()))
        if any(isinstance(s, float) and math.isnan(s) for s in shape):
            raise ValueError(
                f"{name} has unknown chunk sizes (shape {shape}), as after boolean indexing; "
                f"pass the mask as where= instead, or call {name}.compute_chunk_sizes() first"
            )


def _dispatch_device(arrays: list[Any]) -> Any:
    import array_api_compat

    for a in arrays:
        if hasattr(a, "shape"):
            return array_api_compat.device(a)
    return None
