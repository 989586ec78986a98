"""Argument checks shared by every loss, with the messages of DESIGN.md section 3.

Checks of shapes, dtypes and option values run everywhere. Checks of array *values*
(labels in range, probabilities in [0, 1], non-negative variances) run only on eager
backends: under JAX and Dask they cannot raise without forcing a computation, so the
kernels turn such values into NaN instead (documented per loss).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from types import ModuleType
from typing import Any

from ._dispatch import backend_name

__all__ = [
    "broadcast_shapes",
    "check_axis",
    "check_choice",
    "check_flag",
    "check_floating",
    "check_integer",
    "check_option",
    "check_same_device",
    "check_values",
    "dtype_is",
    "is_floating",
    "values_checkable",
]

REDUCTIONS = ("none", "sum", "mean")


def _dtype_name(dtype: Any) -> str:
    return str(dtype).split(".")[-1]


def dtype_is(xp: ModuleType, dtype: Any, kind: str | tuple[str, ...]) -> bool:
    """``xp.isdtype(dtype, kind)``, also for NumPy's ml_dtypes ``bfloat16``.

    NumPy's ``isdtype`` raises for the ml_dtypes extension types (Dask's says False);
    ``bfloat16`` is taken as a real floating dtype and every other extension type as
    none of the kinds.
    """
    try:
        if xp.isdtype(dtype, kind):
            return True
    except TypeError:
        pass
    kinds = (kind,) if isinstance(kind, str) else kind
    return _dtype_name(dtype) == "bfloat16" and "real floating" in kinds


def is_floating(xp: ModuleType, x: Any) -> bool:
    return dtype_is(xp, x.dtype, "real floating")


def check_floating(xp: ModuleType, name: str, x: Any) -> None:
    """TypeError unless ``x`` has a real floating dtype."""
    if not is_floating(xp, x):
        raise TypeError(
            f"{name} must be a real floating array (float16, bfloat16, float32 or "
            f"float64), got dtype {_dtype_name(x.dtype)}"
        )


def check_integer(xp: ModuleType, name: str, x: Any, *, what: str = "class indices") -> None:
    """TypeError unless ``x`` has an integer dtype."""
    if not dtype_is(xp, x.dtype, "integral"):
        raise TypeError(
            f"{name} holds {what} and must be an integer array, got dtype "
            f"{_dtype_name(x.dtype)}; cast it with xp.astype(..., xp.int64)"
        )


def check_choice(name: str, value: Any, allowed: Sequence[Any]) -> None:
    """ValueError unless ``value`` is one of ``allowed``."""
    if value not in allowed:
        valid = ", ".join(repr(a) for a in allowed)
        raise ValueError(f"{name}={value!r} is not valid; expected one of {valid}")


def check_flag(name: str, value: Any) -> None:
    """TypeError unless ``value`` is a boolean (Python's or NumPy's)."""
    if not isinstance(value, bool) and type(value).__name__ != "bool":
        raise TypeError(f"{name} must be True or False, got {value!r}")


def check_option(name: str, value: Any, ok: Callable[[Any], bool], accepted: str) -> None:
    """ValueError naming the option and its value unless ``ok(value)``."""
    try:
        good = bool(ok(value))
    except TypeError:
        good = False
    if not good:
        raise ValueError(f"{name}={value!r} is out of range; {name} must be {accepted}")


def check_axis(axis: int, ndim: int, name: str = "axis") -> int:
    """Normalise ``axis`` for an array of rank ``ndim`` (ValueError if out of range)."""
    if isinstance(axis, bool) or not isinstance(axis, int):
        raise TypeError(f"{name} must be an int, got {axis!r} ({type(axis).__name__})")
    if not -ndim <= axis < ndim:
        raise ValueError(
            f"{name}={axis} is out of range for an array of rank {ndim}; "
            f"{name} must be in [{-ndim}, {ndim - 1}]"
        )
    return axis % ndim


def _shape_text(shape: tuple[Any, ...]) -> str:
    return str(tuple(int(s) if s is not None and not _is_nan(s) else s for s in shape))


def _is_nan(s: Any) -> bool:
    return isinstance(s, float) and math.isnan(s)


def broadcast_shapes(*named: tuple[str, tuple[Any, ...]]) -> tuple[Any, ...]:
    """Broadcast named shapes, or raise ValueError naming the two that clash."""
    result: tuple[Any, ...] = ()
    seen: list[tuple[str, tuple[Any, ...]]] = []
    for name, shape in named:
        shape = tuple(shape)
        merged = _broadcast_pair(result, shape)
        if merged is None:
            other, other_shape = next(
                ((n, s) for n, s in seen if _broadcast_pair(s, shape) is None),
                (" and ".join(n for n, _ in seen) + " broadcast together", result),
            )
            raise ValueError(
                f"{other} has shape {_shape_text(other_shape)} but {name} has shape "
                f"{_shape_text(shape)}; they must be equal or broadcast together "
                "(NumPy broadcasting rules)"
            )
        result = merged
        seen.append((name, shape))
    return result


def _broadcast_pair(a: tuple[Any, ...], b: tuple[Any, ...]) -> tuple[Any, ...] | None:
    n = max(len(a), len(b))
    a = (1,) * (n - len(a)) + a
    b = (1,) * (n - len(b)) + b
    out = []
    for x, y in zip(a, b, strict=True):
        if x is None or y is None or _is_nan(x) or _is_nan(y):
            out.append(x if y == 1 else y)
        elif x == y or y == 1:
            out.append(x)
        elif x == 1:
            out.append(y)
        else:
            return None
    return tuple(out)


def check_same_device(xp: ModuleType, arrays: Iterable[tuple[str, Any]]) -> None:
    """ValueError naming two arguments on different devices (a loss never moves data
    between devices on its own).

    JAX places and shards arrays itself (and raises for incompatible devices), Dask has
    no devices: they are not checked.
    """
    if backend_name(xp) in ("jax", "dask"):
        return
    import array_api_compat

    first: tuple[str, Any] | None = None
    for name, a in arrays:
        if a is None or not hasattr(a, "shape"):
            continue
        dev = array_api_compat.device(a)
        if first is None:
            first = (name, dev)
        elif dev != first[1]:
            raise ValueError(
                f"{first[0]} is on device {first[1]} but {name} is on device {dev}; "
                "move them to one device (a loss never moves data between devices)"
            )


def values_checkable(xp: ModuleType, *arrays: Any) -> bool:
    """True where array values may be inspected: eager backends, concrete arrays."""
    return backend_name(xp) not in ("jax", "dask")


def check_values(xp: ModuleType, bad: Any, message: Callable[[], str]) -> None:
    """ValueError(message()) if any element of the boolean array ``bad`` is set.

    Call only where :func:`values_checkable` holds.
    """
    if bool(xp.any(bad)):
        raise ValueError(message())


def first_bad_value(xp: ModuleType, x: Any, bad: Any) -> Any:
    """A Python number: the first element of ``x`` flagged by ``bad`` (for messages)."""
    flat_x = xp.reshape(x, (-1,))
    flat_bad = xp.reshape(bad, (-1,))
    index = int(xp.argmax(xp.astype(flat_bad, xp.int8)))
    value = flat_x[index]
    if hasattr(value, "detach"):  # float() of a PyTorch tensor that requires grad warns
        value = value.detach()
    if dtype_is(xp, x.dtype, "integral"):
        return int(value)
    return float(value)
