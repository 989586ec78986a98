"""Losses on JAX arrays sharded over ``Explicit`` mesh axes (sharding in types).

``jax.make_mesh`` makes ``Explicit`` axes by default: an array's type carries its
sharding, and JAX rejects at trace time any operation whose operands are laid out in a
way it cannot resolve without a collective (``where(mask_split_over_the_batch,
replicated, ...)``, a gather of per-class weights at batch-split labels, the ``(N, N)``
comparison of a batch-split vector with itself in ``ntxent``). Losses are written once
against the array API standard and know nothing of meshes, so a call whose arrays have
``Explicit`` axes runs, validation included, with those axes made ``Auto``
(:func:`jax.sharding.use_abstract_mesh`) inside one cached ``jax.jit``: XLA propagates
the inputs' shardings through the loss as on any ``Auto`` mesh (the batch stays split;
no all-gather), and the results are resharded to the types the caller expects: a
reduced value replicated, a ``"none"`` loss and every gradient laid out like the input.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

__all__ = ["call_with_auto_axes", "explicit_mesh", "like", "value_spec"]

_FUNCTIONS: dict[str, Callable[..., Any]] = {}

Layout = Callable[[Sequence[Any], Mapping[str, Any], Any], Any]


def explicit_mesh(args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
    """The (abstract) mesh of a JAX array argument with ``Explicit`` axes, else None."""
    if "jax" not in sys.modules:  # no JAX array can exist
        return None
    import jax
    from jax.sharding import AxisType

    for x in (*args, *kwargs.values()):
        if isinstance(x, jax.Array):
            mesh = jax.typeof(x).sharding.mesh
            if not mesh.empty and AxisType.Explicit in mesh.axis_types:
                return mesh
    return None


def like(x: Any, out: Any) -> Any:
    """The partition of ``out`` laid out like the input ``x``: ``x``'s partition on the
    leading axes they share with equal lengths, replicated from the first that differs."""
    import jax
    from jax.sharding import PartitionSpec as P

    shape = tuple(x.shape)
    spec = tuple(jax.typeof(x).sharding.spec) if hasattr(x, "shape") else ()
    parts = [*spec, *[None] * (len(shape) - len(spec))]
    kept: list[Any] = []
    for axis, size in enumerate(out.shape):
        if axis >= len(shape) or shape[axis] != size:
            break
        kept.append(parts[axis])
    return P(*kept, *[None] * (out.ndim - len(kept)))


def value_spec(args: Sequence[Any], value: Any) -> Any:
    """A reduced value is replicated; a ``"none"`` loss is laid out like the first array."""
    from jax.sharding import PartitionSpec as P

    first = next((a for a in args if getattr(a, "ndim", 0) > 0), None)
    if value.ndim == 0 or first is None:
        return P()
    return like(first, value)


def _is_array(x: Any) -> bool:
    return hasattr(x, "shape") and hasattr(x, "dtype")


def _static_key(kind: str, args: Sequence[Any], kwargs: Mapping[str, Any], mesh: Any) -> str:
    """Everything of the call that is not an array (arrays are the jitted arguments)."""
    return repr(
        (
            kind,
            [None if _is_array(a) else a for a in args],
            sorted((k, None if _is_array(v) else v) for k, v in kwargs.items()),
            mesh,
        )
    )


def call_with_auto_axes(
    fn: Callable[..., Any],
    mesh: Any,
    args: Sequence[Any],
    kwargs: Mapping[str, Any],
    *,
    kind: str,
    layout: Layout,
) -> Any:
    """``fn(*args, **kwargs)`` with the ``Explicit`` axes of ``mesh`` made ``Auto``.

    ``layout(args, kwargs, out)`` gives the partition specs of the output pytree from the
    caller's (Explicit-typed) arguments; ``kind`` names ``fn`` in the cache key.
    """
    import jax
    from jax.sharding import AxisType, NamedSharding
    from jax.sharding import PartitionSpec as P

    key = _static_key(kind, args, kwargs, mesh)
    run = _FUNCTIONS.get(key)
    if run is None:
        static_args = [None if _is_array(a) else a for a in args]
        static_kwargs = {k: v for k, v in kwargs.items() if not _is_array(v)}
        auto = mesh.update_axis_types(
            {
                n: AxisType.Auto
                for n, t in zip(mesh.axis_names, mesh.axis_types, strict=True)
                if t == AxisType.Explicit
            }
        )

        def call(arrays: dict[int, Any], array_kwargs: dict[str, Any]) -> Any:
            full = [arrays.get(i, a) for i, a in enumerate(static_args)]
            full_kwargs = {**static_kwargs, **array_kwargs}
            with jax.sharding.use_abstract_mesh(auto):
                unsplit = jax.tree.map(
                    lambda a: jax.sharding.reshard(a, P(*[None] * a.ndim)) if _is_array(a) else a,
                    (full, full_kwargs),
                )
                out = fn(*unsplit[0], **unsplit[1])
            specs = layout(full, full_kwargs, out)
            # the specs are flattened up to the structure of ``out``: each one a leaf
            return jax.tree.map(
                lambda o, spec: jax.sharding.reshard(o, NamedSharding(mesh, spec)), out, specs
            )

        run = _FUNCTIONS[key] = jax.jit(call)
    arrays = {i: a for i, a in enumerate(args) if _is_array(a)}
    return run(arrays, {k: v for k, v in kwargs.items() if _is_array(v)})
