"""Independent references for the conformance report: PyTorch, optax and scikit-learn.

Each entry maps a loss name to the library function it reproduces (DESIGN.md section 3)
and a callable computing, in float64, the value and the gradients of a :class:`Case`
with that library (PyTorch autograd, ``jax.grad`` of the optax function; scikit-learn
gives values only). The checker compares arrayloss's NumPy float64 result with it; a
library that is not installed leaves the reference column empty, never a failure.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .inputs import Case

__all__ = ["REFERENCES", "Reference", "ReferenceResult"]

#: (value, {argument name: gradient}); a gradient that is missing is not compared.
ReferenceResult = tuple[np.ndarray, dict[str, np.ndarray]]


@dataclass(frozen=True)
class Reference:
    """How to compute a loss with the library it reproduces.

    ``compute(args, options, names, wrt)`` gets the case's arrays (float64 NumPy), its
    options, the loss's argument names and its differentiable ones, and returns the
    value and gradients, or None when the case uses an option the library lacks.
    """

    library: str
    function: str
    compute: Callable[[Sequence[Any], dict[str, Any], Sequence[str], Sequence[str]], ReferenceResult | None]

    def run(self, case: Case, names: Sequence[str], wrt: Sequence[str]) -> ReferenceResult | None:
        options = dict(case.options)
        where = options.pop("where", None)
        args = list(case.args)
        if where is None:
            return self.compute(args, options, names, wrt)
        # No peer has a mask: keep the selected elements (flattened), scatter back.
        mask = np.broadcast_to(where, np.broadcast_shapes(*(np.shape(a) for a in args)))
        flat = [np.asarray(a)[mask] for a in args]
        if options.get("weight") is not None:
            options["weight"] = np.broadcast_to(options["weight"], mask.shape)[mask]
        result = self.compute(flat, options, names, wrt)
        if result is None:
            return None
        value, grads = result
        full = {}
        for name, g in grads.items():
            out = np.zeros(mask.shape)
            out[mask] = g
            full[name] = out
        return value, full


REFERENCES: dict[str, Reference] = {}


def reference(name: str, library: str, function: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def decorate(compute: Callable[..., Any]) -> Callable[..., Any]:
        REFERENCES[name] = Reference(library, function, compute)
        return compute

    return decorate


# ------------------------------------------------------------------------ PyTorch


def torch_autograd(
    fn: Callable[..., Any], args: Sequence[Any], names: Sequence[str], wrt: Sequence[str], **kwargs: Any
) -> ReferenceResult:
    """Value and gradients of ``fn(*tensors, **kwargs)`` by PyTorch autograd in float64."""
    import torch

    tensors = []
    leaves = {}
    for name, a in zip(names, args, strict=False):
        if isinstance(a, (int, float)) or a is None:
            tensors.append(a)
            continue
        t = torch.from_numpy(np.array(a))
        if t.is_floating_point():
            t = t.to(torch.float64)
            if name in wrt:
                t.requires_grad_(True)
                leaves[name] = t
        tensors.append(t)
    kwargs = {
        k: torch.from_numpy(np.asarray(v, dtype=np.float64)) if isinstance(v, np.ndarray) and v.dtype.kind == "f" else v
        for k, v in kwargs.items()
    }
    value = fn(*tensors, **kwargs)
    grads = torch.autograd.grad(value, list(leaves.values())) if leaves else ()
    return value.detach().numpy(), {n: g.numpy() for n, g in zip(leaves, grads, strict=True)}


def _torch(name: str, function: str, **fixed: Any) -> None:
    """Register ``torch.nn.functional.<function>`` with the case's options passed through."""

    def compute(args: Sequence[Any], options: dict[str, Any], names: Sequence[str], wrt: Sequence[str]) -> ReferenceResult:
        import torch.nn.functional as F

        return torch_autograd(getattr(F, function), args, names, wrt, **fixed, **options)

    REFERENCES[name] = Reference("torch", f"torch.nn.functional.{function}", compute)


_torch("mse", "mse_loss")
_torch("mae", "l1_loss")
_torch("huber", "huber_loss")
_torch("smooth_l1", "smooth_l1_loss")
_torch("poisson_nll", "poisson_nll_loss")
_torch("gaussian_nll", "gaussian_nll_loss")


@reference("rmse", "torch", "sqrt of torch.nn.functional.mse_loss")
def _rmse(args: Sequence[Any], options: dict[str, Any], names: Sequence[str], wrt: Sequence[str]) -> ReferenceResult:
    import torch
    import torch.nn.functional as F

    return torch_autograd(lambda p, t, **kw: torch.sqrt(F.mse_loss(p, t, **kw)), args, names, wrt, **options)


# -------------------------------------------------------------------------- optax


def jax_grad(fn: Callable[..., Any], args: Sequence[Any], names: Sequence[str], wrt: Sequence[str]) -> ReferenceResult:
    """Value and gradients of the scalar ``fn(*arrays)`` by ``jax.value_and_grad`` (x64)."""
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    arrays = [jnp.asarray(a) for a in args]
    positions = [i for i, n in enumerate(names[: len(args)]) if n in wrt]
    value, grads = jax.value_and_grad(fn, argnums=tuple(positions))(*arrays)
    return np.asarray(value), {names[i]: np.asarray(g) for i, g in zip(positions, grads, strict=True)}


def _weighted_mean(per_element: Any, weight: Any) -> Any:
    import jax.numpy as jnp

    if weight is None:
        return jnp.mean(per_element)
    return jnp.sum(per_element * weight) / jnp.sum(weight)


@reference("log_cosh", "optax", "optax.losses.log_cosh")
def _log_cosh(args: Sequence[Any], options: dict[str, Any], names: Sequence[str], wrt: Sequence[str]) -> ReferenceResult:
    import optax

    weight = options.get("weight")
    return jax_grad(lambda p, t: _weighted_mean(optax.losses.log_cosh(p, t), weight), args, names, wrt)


# ------------------------------------------------------------------- scikit-learn


def _sklearn(name: str, function: str, **fixed: Any) -> None:
    """Register ``sklearn.metrics.<function>(y_true, y_pred, sample_weight=...)`` (values only)."""

    def compute(args: Sequence[Any], options: dict[str, Any], names: Sequence[str], wrt: Sequence[str]) -> ReferenceResult:
        import sklearn.metrics

        pred, target = (np.ravel(a) for a in args[:2])
        weight = options.pop("weight", None)
        kwargs = {fixed[k]: v for k, v in options.items() if k in fixed}
        if len(kwargs) != len(options):
            unknown = sorted(set(options) - set(fixed))
            raise ValueError(f"no scikit-learn equivalent for the options {unknown}")
        sample_weight = None if weight is None else np.ravel(np.broadcast_to(weight, np.shape(args[0])))
        value = getattr(sklearn.metrics, function)(target, pred, sample_weight=sample_weight, **kwargs)
        return np.asarray(value), {}

    REFERENCES[name] = Reference("sklearn", f"sklearn.metrics.{function}", compute)


_sklearn("mape", "mean_absolute_percentage_error")
_sklearn("quantile", "mean_pinball_loss", q="alpha")
_sklearn("tweedie_deviance", "mean_tweedie_deviance", power="power")
_sklearn("msle", "mean_squared_log_error")
