"""Inputs for every registered loss, shared by the scale-out tests (Dask chunks, JAX shards).

Each loss (by its canonical spec name, so aliases share an entry) has a factory that
builds valid NumPy float64 inputs from a seeded generator: a :class:`Case`. Arrays whose
leading axis has length :data:`BATCH` are the batch-major ones: the Dask tests chunk them
unevenly along it, the sharded JAX check splits them over the devices; every other array
is one chunk / replicated. No other axis has length ``BATCH``.

A loss in ``arrayloss.registry()`` with no factory here makes the scale-out tests fail:
add one when you add a loss.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from arrayloss._spec import get_spec, public_functions

__all__ = [
    "BATCH",
    "FACTORIES",
    "Case",
    "batch_major",
    "case_for",
    "chunks_for",
    "concentrated_weight",
    "differentiable",
    "loss_names",
    "weighted_options",
]

#: The batch length: divisible by 4 devices, split unevenly into Dask chunks.
BATCH = 12
#: Class, feature, spatial and vocabulary sizes (none equals BATCH).
C, D, S, V, H = 5, 6, 3, 7, 4


@dataclass(frozen=True)
class Case:
    """One call of a loss: positional arrays, keyword options, and what ``weight`` means.

    ``weight`` is ``"element"`` (broadcast to the unreduced loss, whose leading axis is
    the batch), ``"class"`` (one per class: the last axis of the first argument, or the
    rows of ``linear_cross_entropy``'s projection) or None (the loss takes none).
    """

    args: tuple[Any, ...]
    options: dict[str, Any] = field(default_factory=dict)
    weight: str | None = "element"
    #: the keyword of the per-element or per-class weight
    weight_name: str = "weight"


Factory = Callable[[np.random.Generator], Case]


def _normal(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return rng.normal(size=shape)


def _positive(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return rng.uniform(0.2, 3.0, size=shape)


def _probabilities(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return rng.uniform(0.05, 0.95, size=shape)


def _simplex(rng: np.random.Generator, *shape: int) -> np.ndarray:
    e = rng.uniform(0.1, 1.0, size=shape)
    return e / e.sum(axis=-1, keepdims=True)


def _labels(rng: np.random.Generator, *shape: int, classes: int = C) -> np.ndarray:
    return rng.integers(0, classes, size=shape).astype(np.int64)


def _ignored(labels: np.ndarray) -> np.ndarray:
    """Labels with two rows at PyTorch's ``ignore_index`` (-100)."""
    out = labels.copy()
    out[1] = -100
    out[7] = -100
    return out


def _binary(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return rng.integers(0, 2, size=shape).astype(np.float64)


def _signs(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return 2.0 * _binary(rng, *shape) - 1.0


def _log_softmax(x: np.ndarray) -> np.ndarray:
    m = x.max(axis=-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=-1, keepdims=True))


def _pair(draw: Callable[..., np.ndarray], **options: Any) -> Factory:
    def make(rng: np.random.Generator) -> Case:
        return Case((draw(rng, BATCH, C), draw(rng, BATCH, C)), options)

    return make


FACTORIES: dict[str, Factory] = {
    # ------------------------------------------------------------ regression
    "mse": _pair(_normal),
    "rmse": _pair(_normal),
    "mae": _pair(_normal),
    "huber": _pair(_normal, delta=0.7),
    "smooth_l1": _pair(_normal, beta=0.6),
    "log_cosh": _pair(_normal),
    "msle": _pair(_positive),
    "mape": _pair(_normal),
    "quantile": _pair(_normal, q=0.3),
    "poisson_nll": lambda rng: Case(
        (_normal(rng, BATCH, C), rng.poisson(2.0, size=(BATCH, C)).astype(np.float64))
    ),
    "gaussian_nll": lambda rng: Case(
        (_normal(rng, BATCH, C), _normal(rng, BATCH, C), _positive(rng, BATCH, C))
    ),
    "tweedie_deviance": _pair(_positive, power=1.5),
    # -------------------------------------------------------- classification
    "cross_entropy": lambda rng: Case(
        (_normal(rng, BATCH, C), _ignored(_labels(rng, BATCH))),
        {"label_smoothing": 0.1},
        weight="class",
    ),
    "nll_loss": lambda rng: Case(
        (_log_softmax(_normal(rng, BATCH, C)), _ignored(_labels(rng, BATCH))), weight="class"
    ),
    "categorical_cross_entropy": lambda rng: Case(
        (_simplex(rng, BATCH, C), _simplex(rng, BATCH, C))
    ),
    "sparse_categorical_cross_entropy": lambda rng: Case(
        (_simplex(rng, BATCH, C), _labels(rng, BATCH))
    ),
    "binary_cross_entropy": lambda rng: Case(
        (_probabilities(rng, BATCH, C), _probabilities(rng, BATCH, C))
    ),
    "binary_cross_entropy_with_logits": lambda rng: Case(
        (_normal(rng, BATCH, C), _probabilities(rng, BATCH, C))
    ),
    "sigmoid_focal_loss": lambda rng: Case((_normal(rng, BATCH, C), _binary(rng, BATCH, C))),
    "softmax_focal_loss": lambda rng: Case((_normal(rng, BATCH, C), _labels(rng, BATCH))),
    "poly1_cross_entropy": lambda rng: Case((_normal(rng, BATCH, C), _labels(rng, BATCH))),
    "hinge": lambda rng: Case((_normal(rng, BATCH, C), _signs(rng, BATCH, C))),
    "squared_hinge": lambda rng: Case((_normal(rng, BATCH, C), _signs(rng, BATCH, C))),
    "multi_margin": lambda rng: Case((_normal(rng, BATCH, C), _labels(rng, BATCH)), weight="class"),
    "soft_margin": lambda rng: Case((_normal(rng, BATCH, C), _signs(rng, BATCH, C))),
    "multilabel_soft_margin": lambda rng: Case(
        (_normal(rng, BATCH, C), _binary(rng, BATCH, C)), weight="class"
    ),
    # ---------------------------------------------------------- distribution
    "kl_div": lambda rng: Case((_log_softmax(_normal(rng, BATCH, C)), _simplex(rng, BATCH, C))),
    "js_div": lambda rng: Case((_simplex(rng, BATCH, C), _simplex(rng, BATCH, C))),
    "cosine_similarity_loss": lambda rng: Case((_normal(rng, BATCH, D), _normal(rng, BATCH, D))),
    # ---------------------------------------------------------- segmentation
    "dice": lambda rng: Case((_probabilities(rng, BATCH, S, S, C), _binary(rng, BATCH, S, S, C))),
    "jaccard": lambda rng: Case(
        (_probabilities(rng, BATCH, S, S, C), _binary(rng, BATCH, S, S, C))
    ),
    "tversky": lambda rng: Case(
        (_probabilities(rng, BATCH, S, S, C), _binary(rng, BATCH, S, S, C))
    ),
    "generalized_dice": lambda rng: Case(
        (_probabilities(rng, BATCH, S, S, C), _binary(rng, BATCH, S, S, C)), weight="class"
    ),
    # ------------------------------------------------------- metric / ranking
    "contrastive": lambda rng: Case(
        (_normal(rng, BATCH, D), _normal(rng, BATCH, D), _binary(rng, BATCH))
    ),
    "triplet_margin": lambda rng: Case(
        (_normal(rng, BATCH, D), _normal(rng, BATCH, D), _normal(rng, BATCH, D))
    ),
    "cosine_embedding": lambda rng: Case(
        (_normal(rng, BATCH, D), _normal(rng, BATCH, D), _signs(rng, BATCH))
    ),
    "margin_ranking": lambda rng: Case(
        (_normal(rng, BATCH), _normal(rng, BATCH), _signs(rng, BATCH))
    ),
    "hinge_embedding": lambda rng: Case((_positive(rng, BATCH, C), _signs(rng, BATCH, C))),
    "ntxent": lambda rng: Case((_normal(rng, BATCH, D), _labels(rng, BATCH, classes=3))),
    # ------------------------------------------------------- large vocabulary
    "chunked_cross_entropy": lambda rng: Case(
        (_normal(rng, BATCH, V), _ignored(_labels(rng, BATCH, classes=V))),
        weight="class",
        weight_name="class_weight",
    ),
    "linear_cross_entropy": lambda rng: Case(
        (_normal(rng, BATCH, H), _normal(rng, V, H), _ignored(_labels(rng, BATCH, classes=V))),
        {"bias": _normal(rng, V)},
        weight="class",
        weight_name="class_weight",
    ),
}


def loss_names() -> list[str]:
    """Every name in the registry (aliases included), sorted."""
    return sorted(public_functions())


def case_for(name: str) -> Case | None:
    """The inputs for ``name`` (seeded by the canonical name), or None without a factory."""
    canonical = get_spec(name).name
    factory = FACTORIES.get(canonical)
    if factory is None:
        return None
    return factory(np.random.default_rng(zlib.crc32(canonical.encode())))


def batch_major(x: Any) -> bool:
    """Whether an input is split along its leading (batch) axis."""
    return isinstance(x, np.ndarray) and x.ndim >= 1 and x.shape[0] == BATCH


#: Uneven splits of the batch axis, one per argument position, so that arguments are
#: chunked differently from each other (their element-wise combinations rechunk).
_BATCH_SPLITS = ((5, 4, 3), (2, 10), (7, 5), (3, 3, 6))


def chunks_for(x: np.ndarray, position: int) -> tuple[tuple[int, ...], ...]:
    """Uneven Dask chunks for the input at ``position``.

    The batch axis gets a split that differs between positions; the other axes are
    halved unevenly for even positions and kept whole for odd ones.
    """
    chunks = []
    for axis, size in enumerate(x.shape):
        if axis == 0 and size == BATCH:
            chunks.append(_BATCH_SPLITS[position % len(_BATCH_SPLITS)])
        elif position % 2 == 0 and size >= 2:
            chunks.append((size // 2, size - size // 2))
        else:
            chunks.append((size,))
    return tuple(chunks)


def differentiable(name: str, case: Case) -> tuple[str, ...]:
    """The differentiable arguments of ``name`` that ``case`` passes."""
    spec = get_spec(name)
    given = set(spec.args[: len(case.args)]) | set(case.options)
    return tuple(a for a in spec.wrt if a in given)


def concentrated_weight(unreduced_shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Per-element weights with almost all the mass on the last three rows: the last
    Dask chunk of argument 0, and the last device's shard."""
    w = rng.uniform(1e-3, 2e-3, size=unreduced_shape)
    w[BATCH - 3 :] = rng.uniform(1e3, 2e3, size=w[BATCH - 3 :].shape)
    return w


def weighted_options(name: str, case: Case) -> dict[str, Any]:
    """``case.options`` plus a ``weight`` (concentrated, per element, or per class) and a
    ``where`` mask that drops the whole first row and about a fifth of the rest."""
    rng = np.random.default_rng(7)
    fn = public_functions()[name]
    shape = np.shape(fn(*case.args, **case.options, reduction="none"))
    if shape[:1] != (BATCH,):
        raise AssertionError(f"unreduced {name} is expected to be batch-major, got {shape}")
    options = dict(case.options)
    if case.weight == "element":
        options[case.weight_name] = concentrated_weight(shape, rng)
    elif case.weight == "class":
        projection = case.args[1] if get_spec(name).name == "linear_cross_entropy" else None
        classes = case.args[0].shape[-1] if projection is None else projection.shape[0]
        options[case.weight_name] = rng.uniform(0.1, 3.0, size=classes)
    where = rng.uniform(size=shape) < 0.8
    where[0] = False
    options["where"] = where
    return options
