"""Conformance references from optax (``jax.grad``), scikit-learn and SciPy (values only)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .references import REFERENCES, Reference, ReferenceResult, reference

# -------------------------------------------------------------------------- optax


def jax_grad(
    fn: Callable[..., Any], args: Sequence[Any], names: Sequence[str], wrt: Sequence[str]
) -> ReferenceResult:
    """Value and gradients of the scalar ``fn(*arrays)`` by ``jax.value_and_grad`` (x64)."""
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    arrays = [jnp.asarray(a) for a in args]
    positions = [i for i, n in enumerate(names[: len(args)]) if n in wrt]
    value, grads = jax.value_and_grad(fn, argnums=tuple(positions))(*arrays)
    return np.asarray(value), {
        names[i]: np.asarray(g) for i, g in zip(positions, grads, strict=True)
    }


def _weighted_mean(per_element: Any, weight: Any) -> Any:
    import jax.numpy as jnp

    if weight is None:
        return jnp.mean(per_element)
    return jnp.sum(per_element * weight) / jnp.sum(weight)


@reference("log_cosh", "optax", "optax.losses.log_cosh")
def _log_cosh(
    args: Sequence[Any], options: dict[str, Any], names: Sequence[str], wrt: Sequence[str]
) -> ReferenceResult:
    import optax

    weight = options.get("weight")
    return jax_grad(
        lambda p, t: _weighted_mean(optax.losses.log_cosh(p, t), weight), args, names, wrt
    )


# ------------------------------------------------------------------- scikit-learn


def _sklearn(name: str, function: str, **fixed: Any) -> None:
    """Register ``sklearn.metrics.<function>(y_true, y_pred, sample_weight=...)`` (values only)."""

    def compute(
        args: Sequence[Any], options: dict[str, Any], names: Sequence[str], wrt: Sequence[str]
    ) -> ReferenceResult:
        import sklearn.metrics

        pred, target = (np.ravel(a) for a in args[:2])
        weight = options.pop("weight", None)
        kwargs = {fixed[k]: v for k, v in options.items() if k in fixed}
        if len(kwargs) != len(options):
            unknown = sorted(set(options) - set(fixed))
            raise ValueError(f"no scikit-learn equivalent for the options {unknown}")
        sample_weight = (
            None if weight is None else np.ravel(np.broadcast_to(weight, np.shape(args[0])))
        )
        value = getattr(sklearn.metrics, function)(
            target, pred, sample_weight=sample_weight, **kwargs
        )
        return np.asarray(value), {}

    REFERENCES[name] = Reference("sklearn", f"sklearn.metrics.{function}", compute)


_sklearn("mape", "mean_absolute_percentage_error")
_sklearn("quantile", "mean_pinball_loss", q="alpha")
_sklearn("tweedie_deviance", "mean_tweedie_deviance", power="power")
_sklearn("msle", "mean_squared_log_error")


def _optax_mean(name: str, function: str, **fixed: Any) -> None:
    """Register the mean of ``optax.losses.<function>(pred, target, **options)``."""

    def compute(
        args: Sequence[Any], options: dict[str, Any], names: Sequence[str], wrt: Sequence[str]
    ) -> ReferenceResult | None:
        import optax

        weight = options.pop("weight", None)
        kwargs = {fixed[k]: v for k, v in options.items() if k in fixed}
        if len(kwargs) != len(options):
            return None
        fn = getattr(optax.losses, function)
        return jax_grad(lambda p, t: _weighted_mean(fn(p, t, **kwargs), weight), args, names, wrt)

    REFERENCES[name] = Reference("optax", f"optax.losses.{function}", compute)


_optax_mean("hinge", "hinge_loss")
_optax_mean("sigmoid_focal_loss", "sigmoid_focal_loss", alpha="alpha", gamma="gamma")
_optax_mean("cosine_similarity_loss", "cosine_distance", eps="epsilon")


@reference("poly1_cross_entropy", "optax", "optax.losses.poly_loss_cross_entropy")
def _poly1(
    args: Sequence[Any], options: dict[str, Any], names: Sequence[str], wrt: Sequence[str]
) -> ReferenceResult | None:
    import optax

    logits, target = args
    if np.asarray(target).dtype.kind != "f":
        target = np.eye(np.shape(logits)[-1])[target]
    epsilon = options.pop("epsilon", 2.0)
    if options:
        return None
    return jax_grad(
        lambda x, t: optax.losses.poly_loss_cross_entropy(x, t, epsilon=epsilon).mean(),
        [logits, target],
        names,
        wrt,
    )


@reference("ntxent", "optax", "optax.losses.ntxent")
def _ntxent(
    args: Sequence[Any], options: dict[str, Any], names: Sequence[str], wrt: Sequence[str]
) -> ReferenceResult | None:
    import optax

    temperature = options.pop("temperature", 0.07)
    if options:
        return None
    embeddings, labels = args
    return jax_grad(lambda e: optax.losses.ntxent(e, labels, temperature), [embeddings], names, wrt)


def _dice_family(tversky: bool) -> Callable[..., ReferenceResult | None]:
    """optax's ``dice_loss`` (softmax of logits, one-hot targets); see the docstrings."""

    def compute(
        args: Sequence[Any], options: dict[str, Any], names: Sequence[str], wrt: Sequence[str]
    ) -> ReferenceResult | None:
        import optax

        logits, target = args
        if not options.pop("from_logits", False) or np.asarray(target).dtype.kind != "f":
            return None
        kwargs: dict[str, Any] = {"class_weights": options.pop("weight", None)}
        if tversky:
            if options.pop("gamma", 1.0) != 1.0:
                return None
            kwargs.update(
                alpha=options.pop("alpha", 0.5), beta=options.pop("beta", 0.5), smooth=1e-5
            )
        else:
            kwargs["smooth"] = 0.5e-5  # optax's smooth s is smooth_nr = smooth_dr = 2 s
        if options:
            return None
        return jax_grad(
            lambda x, t: optax.losses.dice_loss(x, t, **kwargs).mean(), [logits, target], names, wrt
        )

    return compute


REFERENCES["dice"] = Reference("optax", "optax.losses.dice_loss", _dice_family(False))
REFERENCES["tversky"] = Reference(
    "optax", "optax.losses.dice_loss(alpha, beta)", _dice_family(True)
)


@reference("js_div", "scipy", "scipy.spatial.distance.jensenshannon (squared)")
def _js_div(
    args: Sequence[Any], options: dict[str, Any], names: Sequence[str], wrt: Sequence[str]
) -> ReferenceResult | None:
    from scipy.spatial.distance import jensenshannon

    if options:
        return None
    pred, target = args
    return np.asarray(np.mean(jensenshannon(pred, target, axis=-1) ** 2)), {}
