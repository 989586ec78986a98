"""Independent references for the conformance report: PyTorch, optax and scikit-learn.

Each entry maps a loss name to the library function it reproduces (DESIGN.md section 3)
and a callable computing, in float64, the value and the gradients of a :class:`Case`
with that library (PyTorch autograd, ``jax.grad`` of the optax function; scikit-learn
gives values only). The checker compares arrayloss's NumPy float64 result with it; a
library that is not installed leaves the reference column empty, never a failure.
"""

from __future__ import annotations

import warnings
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
    compute: Callable[
        [Sequence[Any], dict[str, Any], Sequence[str], Sequence[str]], ReferenceResult | None
    ]

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


def reference(
    name: str, library: str, function: str
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def decorate(compute: Callable[..., Any]) -> Callable[..., Any]:
        REFERENCES[name] = Reference(library, function, compute)
        return compute

    return decorate


# ------------------------------------------------------------------------ PyTorch


def torch_autograd(
    fn: Callable[..., Any],
    args: Sequence[Any],
    names: Sequence[str],
    wrt: Sequence[str],
    **kwargs: Any,
) -> ReferenceResult:
    """Value and gradients of ``fn(*tensors, **kwargs)`` by PyTorch autograd in float64."""
    import torch

    tensors: list[Any] = []
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
        k: torch.from_numpy(np.asarray(v, dtype=np.float64))
        if isinstance(v, np.ndarray) and v.dtype.kind == "f"
        else v
        for k, v in kwargs.items()
    }
    with warnings.catch_warnings():
        # kl_div's notice that "mean" is not "batchmean": the checker compares both.
        warnings.simplefilter("ignore", UserWarning)
        value = fn(*tensors, **kwargs)
    grads = torch.autograd.grad(value, list(leaves.values())) if leaves else ()
    return value.detach().numpy(), {n: g.numpy() for n, g in zip(leaves, grads, strict=True)}


def _torch(name: str, function: str, **fixed: Any) -> None:
    """Register ``torch.nn.functional.<function>`` with the case's options passed through."""

    def compute(
        args: Sequence[Any], options: dict[str, Any], names: Sequence[str], wrt: Sequence[str]
    ) -> ReferenceResult:
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
def _rmse(
    args: Sequence[Any], options: dict[str, Any], names: Sequence[str], wrt: Sequence[str]
) -> ReferenceResult:
    import torch
    import torch.nn.functional as F

    return torch_autograd(
        lambda p, t, **kw: torch.sqrt(F.mse_loss(p, t, **kw)), args, names, wrt, **options
    )


@reference("cross_entropy", "torch", "torch.nn.functional.cross_entropy")
def _cross_entropy(
    args: Sequence[Any], options: dict[str, Any], names: Sequence[str], wrt: Sequence[str]
) -> ReferenceResult:
    import torch
    import torch.nn.functional as F

    temperature = options.pop("temperature", 1.0)
    axis = options.pop("axis", -1)

    def loss(logits: Any, target: Any, **kw: Any) -> Any:
        logits = torch.movedim(logits, axis, 1) if logits.ndim > 1 else logits
        if target.is_floating_point() and target.ndim > 1:
            target = torch.movedim(target, axis, 1)
        return F.cross_entropy(logits / temperature, target, **kw)

    return torch_autograd(loss, args, names, wrt, **options)


_torch("nll_loss", "nll_loss")
_torch("binary_cross_entropy", "binary_cross_entropy")
_torch("binary_cross_entropy_with_logits", "binary_cross_entropy_with_logits")
_torch("kl_div", "kl_div")
_torch("multi_margin", "multi_margin_loss")
_torch("soft_margin", "soft_margin_loss")
_torch("multilabel_soft_margin", "multilabel_soft_margin_loss")
_torch("cosine_embedding", "cosine_embedding_loss")
_torch("margin_ranking", "margin_ranking_loss")
_torch("hinge_embedding", "hinge_embedding_loss")
_torch("triplet_margin", "triplet_margin_loss")


def _keras_categorical(sparse: bool) -> Callable[..., ReferenceResult | None]:
    """Keras 3's (sparse) categorical cross-entropy written in PyTorch (Keras is optional)."""

    def compute(
        args: Sequence[Any], options: dict[str, Any], names: Sequence[str], wrt: Sequence[str]
    ) -> ReferenceResult | None:
        import torch
        import torch.nn.functional as F

        from_logits = options.pop("from_logits", False)
        if options:
            return None

        def loss(pred: Any, target: Any) -> Any:
            if from_logits:
                return F.cross_entropy(pred, target)
            # Keras normalises the probabilities, then clips them at 1e-7 (inactive here).
            log_q = torch.log(pred / pred.sum(dim=-1, keepdim=True))
            return F.nll_loss(log_q, target) if sparse else -(target * log_q).sum(dim=-1).mean()

        return torch_autograd(loss, args, names, wrt)

    return compute


REFERENCES["categorical_cross_entropy"] = Reference(
    "torch",
    "keras.losses.categorical_crossentropy (its formula in PyTorch)",
    _keras_categorical(False),
)
REFERENCES["sparse_categorical_cross_entropy"] = Reference(
    "torch",
    "keras.losses.sparse_categorical_crossentropy (its formula in PyTorch)",
    _keras_categorical(True),
)


def _vocab_options(options: dict[str, Any]) -> dict[str, Any]:
    """The large-vocabulary losses' options in ``F.cross_entropy``'s terms."""
    options.pop("chunk_size", None)
    options.pop("vocab_chunk_size", None)
    if "class_weight" in options:
        options["weight"] = options.pop("class_weight")
    return options


def _linear_cross_entropy(
    args: Sequence[Any], options: dict[str, Any], names: Sequence[str], wrt: Sequence[str]
) -> ReferenceResult | None:
    import torch.nn.functional as F

    options = _vocab_options(options)
    bias = options.pop("bias", None)
    hidden, weight, target = args

    def loss(h: Any, w: Any, y: Any, b: Any = None, /, **kw: Any) -> Any:
        return F.cross_entropy(F.linear(h, w, b), y, **kw)

    names = ["hidden", "weight", "target", "bias"]
    return torch_autograd(loss, [hidden, weight, target, bias], names, wrt, **options)


def _chunked_cross_entropy(
    args: Sequence[Any], options: dict[str, Any], names: Sequence[str], wrt: Sequence[str]
) -> ReferenceResult | None:
    import torch.nn.functional as F

    return torch_autograd(F.cross_entropy, args, names, wrt, **_vocab_options(options))


REFERENCES["linear_cross_entropy"] = Reference(
    "torch", "torch.nn.functional.cross_entropy of hidden @ weight.T + bias", _linear_cross_entropy
)
REFERENCES["chunked_cross_entropy"] = Reference(
    "torch", "torch.nn.functional.cross_entropy", _chunked_cross_entropy
)


# The optax, scikit-learn and SciPy references register themselves on import.
from . import references_optax  # noqa: E402, F401
