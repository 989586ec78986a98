"""Namespace resolution, conversion between array libraries, and backend selection.

Every public loss resolves the array namespace it runs on here, once: from ``xp=``
(a module, a backend name or ``"auto"``), else from ``al.use_backend(...)``, else from
the arrays it was given. Inputs from another library are converted only when ``xp=`` (or
``use_backend``) asks for it.
"""

from __future__ import annotations

import contextlib
import contextvars
import importlib
import importlib.metadata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import array_api_compat
import numpy as np

__all__ = [
    "BACKEND_NAMES",
    "BackendInfo",
    "backend_name",
    "backends",
    "convert",
    "get_namespace",
    "is_lazy_namespace",
    "library_of",
    "resolve_namespace",
    "use_backend",
]

#: Backend names accepted by ``xp=`` and ``use_backend`` (plus ``"auto"``).
BACKEND_NAMES = ("numpy", "cupy", "jax", "torch", "dask", "array_api_strict")

# The pip extra that installs each backend, for the ModuleNotFoundError message.
_EXTRAS = {
    "cupy": "cupy",
    "jax": "jax",
    "torch": "torch",
    "dask": "dask",
    "array_api_strict": "strict",
}

# The module whose import proves the backend is installed.
_IMPORT_NAMES = {
    "numpy": "numpy",
    "cupy": "cupy",
    "jax": "jax",
    "torch": "torch",
    "dask": "dask.array",
    "array_api_strict": "array_api_strict",
}

_DISTRIBUTIONS = {
    "numpy": "numpy",
    "cupy": "cupy",
    "jax": "jax",
    "torch": "torch",
    "dask": "dask",
    "array_api_strict": "array_api_strict",
}

_ACTIVE: contextvars.ContextVar[ModuleType | None] = contextvars.ContextVar(
    "arrayloss_backend", default=None
)


def active_backend() -> ModuleType | None:
    """The namespace set by :func:`use_backend` in this context, or None."""
    return _ACTIVE.get()


_NUMPY_NAMESPACE: list[ModuleType] = []


def numpy_namespace() -> ModuleType:
    """``array_api_compat.numpy`` (cached: the hot path of plain NumPy calls)."""
    if not _NUMPY_NAMESPACE:
        _NUMPY_NAMESPACE.append(importlib.import_module("array_api_compat.numpy"))
    return _NUMPY_NAMESPACE[0]


def _import_backend(name: str) -> ModuleType:
    """Import the array-API namespace of the backend ``name``."""
    try:
        importlib.import_module(_IMPORT_NAMES[name])
    except ImportError as exc:
        extra = _EXTRAS.get(name, name)
        raise ModuleNotFoundError(
            f"the {name!r} backend is not installed; install it with "
            f'pip install "arrayloss[{extra}]"'
        ) from exc
    if name == "numpy":
        return importlib.import_module("array_api_compat.numpy")
    if name == "cupy":
        return importlib.import_module("array_api_compat.cupy")
    if name == "jax":
        return importlib.import_module("jax.numpy")
    if name == "torch":
        return importlib.import_module("array_api_compat.torch")
    if name == "dask":
        return importlib.import_module("array_api_compat.dask.array")
    return importlib.import_module("array_api_strict")


def _cuda_usable() -> bool:
    try:
        import cupy

        return bool(cupy.cuda.runtime.getDeviceCount() > 0)
    except Exception:  # no CuPy, no driver, no device: all mean "not usable"
        return False


def _jax_accelerated() -> bool:
    try:
        import jax

        return any(d.platform in ("gpu", "tpu", "cuda", "rocm") for d in jax.devices())
    except Exception:  # no JAX, or its backend failed to initialise
        return False


def _auto_backend() -> str:
    if _cuda_usable():
        return "cupy"
    if _jax_accelerated():
        return "jax"
    return "numpy"


def get_namespace(xp: ModuleType | str) -> ModuleType:
    """Return the array-API namespace for a backend name or a module.

    Raw ``numpy``, ``cupy``, ``torch`` and ``dask.array`` modules are mapped to their
    ``array_api_compat`` wrappers so every kernel sees the standard API.
    """
    if isinstance(xp, str):
        name = xp.lower()
        if name == "auto":
            name = _auto_backend()
        if name in ("strict", "array-api-strict"):
            name = "array_api_strict"
        if name not in BACKEND_NAMES:
            valid = ", ".join(repr(n) for n in (*BACKEND_NAMES, "auto"))
            raise ValueError(f"unknown backend {xp!r}; valid names are {valid}")
        return _import_backend(name)
    if isinstance(xp, ModuleType):
        return _import_backend(backend_name(xp))
    raise TypeError(
        f"xp must be a module or a backend name, got {xp!r} ({type(xp).__name__}); "
        f"valid names are {', '.join(BACKEND_NAMES)}"
    )


_NAMES_BY_MODULE: dict[int, str] = {}


def backend_name(xp: ModuleType) -> str:
    """The backend name (one of ``BACKEND_NAMES``) of an array namespace or module."""
    known = _NAMES_BY_MODULE.get(id(xp))
    if known is not None:
        return known
    name = _backend_name(xp)
    _NAMES_BY_MODULE[id(xp)] = name  # modules live as long as the process
    return name


def _backend_name(xp: ModuleType) -> str:
    modname = getattr(xp, "__name__", "")
    if array_api_compat.is_numpy_namespace(xp) or modname == "numpy":
        return "numpy"
    if array_api_compat.is_cupy_namespace(xp) or modname == "cupy":
        return "cupy"
    if array_api_compat.is_jax_namespace(xp) or modname in ("jax", "jax.numpy"):
        return "jax"
    if array_api_compat.is_torch_namespace(xp) or modname == "torch":
        return "torch"
    if array_api_compat.is_dask_namespace(xp) or modname in ("dask.array", "dask"):
        return "dask"
    if array_api_compat.is_array_api_strict_namespace(xp):
        return "array_api_strict"
    valid = ", ".join(BACKEND_NAMES)
    raise ValueError(f"unsupported array namespace {modname!r}; supported backends are {valid}")


def is_lazy_namespace(xp: ModuleType) -> bool:
    """True for backends whose values cannot be inspected eagerly (JAX, Dask)."""
    return backend_name(xp) in ("jax", "dask")


def library_of(x: Any) -> str | None:
    """The backend name of an array object, or None for Python scalars and lists."""
    if array_api_compat.is_numpy_array(x):
        return "numpy"
    if array_api_compat.is_cupy_array(x):
        return "cupy"
    if array_api_compat.is_jax_array(x):
        return "jax"
    if array_api_compat.is_torch_array(x):
        return "torch"
    if array_api_compat.is_dask_array(x):
        return "dask"
    if array_api_compat.is_array_api_obj(x):
        try:
            return backend_name(array_api_compat.array_namespace(x))
        except (TypeError, ValueError):
            return type(x).__module__.split(".")[0]
    return None


def _is_array(x: Any) -> bool:
    return library_of(x) is not None


def _describe(x: Any) -> str:
    cls = type(x)
    return f"{cls.__module__.split('.')[0]}.{cls.__qualname__}"


def resolve_namespace(
    arrays: Mapping[str, Any], xp: ModuleType | str | None = None
) -> tuple[ModuleType, bool]:
    """Choose the namespace for a call.

    Returns ``(namespace, explicit)`` where ``explicit`` says whether it was requested
    (``xp=`` or ``use_backend``), in which case inputs of other libraries are converted.
    """
    if xp is None:
        xp = _ACTIVE.get()
    if xp is not None:
        return get_namespace(xp), True
    present = {name: a for name, a in arrays.items() if a is not None and _is_array(a)}
    if not present:
        names = ", ".join(arrays)
        raise TypeError(
            f"no array among the arguments ({names}); pass at least one array, "
            "or xp= to choose a backend"
        )
    libraries: dict[str, str] = {}
    for name, a in present.items():
        libraries.setdefault(library_of(a) or "?", name)
    if len(libraries) > 1:
        (lib_a, arg_a), (lib_b, arg_b) = list(libraries.items())[:2]
        raise TypeError(
            f"arrays from two libraries in one call: {arg_a} is a "
            f"{_describe(present[arg_a])} ({lib_a}) but {arg_b} is a "
            f"{_describe(present[arg_b])} ({lib_b}); convert them to one library, "
            "or pass xp= to choose the backend"
        )
    return array_api_compat.array_namespace(*present.values()), False


def _to_host(x: Any) -> Any:
    """A NumPy array with the values of ``x`` (a copy when it lives on a device)."""
    lib = library_of(x)
    if lib == "torch":
        x = x.detach()
        if str(x.dtype) == "torch.bfloat16":
            import ml_dtypes

            return x.float().cpu().numpy().astype(ml_dtypes.bfloat16)
        return x.cpu().numpy()
    if lib == "cupy":
        return x.get()
    if lib == "dask":
        return np.asarray(x.compute())
    if lib == "array_api_strict":
        import array_api_strict

        return np.asarray(array_api_strict.asarray(x, copy=True)._array)
    return np.asarray(x)


def convert(x: Any, xp: ModuleType) -> Any:
    """Return ``x`` as an array of namespace ``xp``.

    Arrays already in ``xp`` are returned as they are; Python scalars and lists are left
    for the caller to convert with a dtype. Other arrays move by DLPack where possible,
    else through a host copy, onto ``xp``'s default device.
    """
    if x is None or not _is_array(x):
        return x
    target = backend_name(xp)
    if library_of(x) == target:
        return x
    if target == "dask":
        import dask.array as da

        host = _to_host(x)
        return da.from_array(host, chunks=host.shape or ())
    if library_of(x) not in ("dask", "array_api_strict") and target != "array_api_strict":
        with contextlib.suppress(Exception):
            return xp.from_dlpack(x)
    host = _to_host(x)
    if target == "torch":
        import torch

        if str(host.dtype) == "bfloat16":
            return torch.from_numpy(host.astype(np.float32)).to(torch.bfloat16)
        return torch.asarray(np.ascontiguousarray(host))
    return xp.asarray(host)


@contextlib.contextmanager
def use_backend(xp: ModuleType | str) -> Iterator[ModuleType]:
    """Context manager: losses called without ``xp=`` inside the block run on ``xp``.

    The setting is held in a :mod:`contextvars` variable, so each thread and each
    asyncio task sees its own.

    Examples:
        >>> import numpy as np
        >>> import arrayloss as al
        >>> with al.use_backend("numpy"):
        ...     float(al.mse(np.array([1.0, 2.0]), np.array([1.0, 4.0])))
        2.0
    """
    namespace = get_namespace(xp)
    token = _ACTIVE.set(namespace)
    try:
        yield namespace
    finally:
        _ACTIVE.reset(token)


@dataclass(frozen=True)
class BackendInfo:
    """An installed backend: its name, library version and visible devices."""

    name: str
    version: str
    devices: tuple[str, ...]


def _devices(name: str) -> tuple[str, ...]:
    try:
        if name == "jax":
            import jax

            return tuple(str(d) for d in jax.devices())
        if name == "torch":
            import torch

            found = ["cpu"]
            if torch.cuda.is_available():
                found += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
            return tuple(found)
        if name == "cupy":
            import cupy

            count = cupy.cuda.runtime.getDeviceCount()
            return tuple(f"cuda:{i}" for i in range(count))
    except Exception as exc:  # a broken driver is reported, not raised
        return (f"unavailable ({type(exc).__name__}: {exc})",)
    return ("cpu",)


def backends() -> list[BackendInfo]:
    """The installed backends with their versions and devices, in ``BACKEND_NAMES`` order."""
    found = []
    for name in BACKEND_NAMES:
        try:
            importlib.import_module(_IMPORT_NAMES[name])
        except Exception:  # not installed, or installed but broken: not usable
            continue
        try:
            version = importlib.metadata.version(_DISTRIBUTIONS[name])
        except importlib.metadata.PackageNotFoundError:
            version = "unknown"
        found.append(BackendInfo(name, version, _devices(name)))
    return found
