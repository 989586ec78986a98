"""Segmentation losses: dice, jaccard, tversky, generalized_dice.

References are written out below in NumPy float64, independent of the kernels, after
MONAI's ``DiceLoss`` / ``TverskyLoss`` / ``GeneralizedDiceLoss`` (channels-first, as
MONAI) with segmentation_models_pytorch's ``ignore_index`` masking; the same functions
run on ``jax.numpy`` so that ``jax.grad`` gives exact reference gradients. optax's
``dice_loss`` is compared where it applies, and every gradient entry is checked by
central finite differences.
"""

from __future__ import annotations

import functools
import itertools
from types import ModuleType
from typing import Any

import numpy as np
import pytest

import arrayloss as al

from _helpers import RTOL32, assert_close, numeric_grad, optional

LOSSES = {
    "dice": al.dice,
    "jaccard": al.jaccard,
    "tversky": al.tversky,
    "generalized_dice": al.generalized_dice,
}
#: Score options each loss is checked with (tversky: MONAI's, then focal variants).
SCORE_OPTIONS: dict[str, list[dict[str, float]]] = {
    "dice": [{}],
    "jaccard": [{}],
    "tversky": [
        {"alpha": 0.5, "beta": 0.5, "gamma": 1.0},
        {"alpha": 0.3, "beta": 0.7, "gamma": 2.0},
        {"alpha": 0.7, "beta": 0.2, "gamma": 0.75},
    ],
    "generalized_dice": [{}],
}
SMOOTHING = [{}, {"smooth_nr": 0.3, "smooth_dr": 0.7}]
#: name -> (channels, from_logits, multilabel); "probs" modes take probabilities.
MODES = {
    "probs": (3, False, False),
    "probs_binary": (1, False, False),
    "softmax": (3, True, False),
    "sigmoid": (1, True, False),
    "multilabel": (3, True, True),
}
IGNORE = -1


# ------------------------------------------------------------ the references


def ref_activate(xp: ModuleType, pred: Any, mode: str) -> Any:
    """MONAI's ``softmax=True`` / ``sigmoid=True`` on channels-first ``pred``."""
    if mode == "softmax":
        e = xp.exp(pred - xp.max(pred, axis=1, keepdims=True))
        return e / xp.sum(e, axis=1, keepdims=True)
    if mode in ("sigmoid", "multilabel"):
        return 1 / (1 + xp.exp(-pred))
    return pred


def ref_values(
    xp: ModuleType,
    name: str,
    pred: Any,
    target: Any,
    *,
    mode: str,
    labels: bool,
    include_background: bool = True,
    weight: Any = None,
    ignore_index: int | None = None,
    smooth_nr: float = 1e-5,
    smooth_dr: float = 1e-5,
    alpha: float = 0.5,
    beta: float = 0.5,
    gamma: float = 1.0,
) -> Any:
    """Per (sample, class) values ``(N, C)`` (generalized_dice: ``(N,)``), channels first.

    ``xp`` is NumPy, ``jax.numpy`` or ``array_api_compat.torch`` (for autodiff).
    """
    num_classes = pred.shape[1]
    dtype = pred.dtype
    p = ref_activate(xp, pred, mode)
    # segmentation_models_pytorch: y_pred * mask, one_hot(y_true * mask) * mask
    keep = xp.ones(target.shape, dtype=dtype)
    if ignore_index is not None:
        keep = xp.astype(target != ignore_index, dtype)
    if labels:
        kept_labels = target if ignore_index is None else target * xp.astype(keep, target.dtype)
        if num_classes == 1:  # MONAI's to_onehot_y is skipped with one channel
            g = xp.astype(kept_labels[:, None], dtype)
        else:
            classes = xp.reshape(xp.arange(num_classes), (1, num_classes) + (1,) * (p.ndim - 2))
            g = xp.astype(kept_labels[:, None] == classes, dtype)
        keep = keep[:, None]
    else:
        g = target
    p = p * keep
    g = g * keep
    if not include_background and num_classes > 1:  # MONAI drops channel 0
        p, g = p[:, 1:], g[:, 1:]
    axes = tuple(range(2, p.ndim))
    tp = xp.sum(p * g, axis=axes)
    if name in ("dice", "jaccard"):  # MONAI DiceLoss, soft_label=False
        fp = xp.sum(p, axis=axes) - tp
        fn = xp.sum(g, axis=axes) - tp
        if name == "dice":
            fp, fn = 0.5 * fp, 0.5 * fn
        f = 1.0 - (2 * tp + smooth_nr) / (2 * (tp + fp + fn) + smooth_dr)
    elif name == "tversky":  # MONAI TverskyLoss, then the focal exponent per (n, c)
        fp = alpha * xp.sum(p * (1 - g), axis=axes)
        fn = beta * xp.sum((1 - p) * g, axis=axes)
        f = (1.0 - (tp + smooth_nr) / (tp + fp + fn + smooth_dr)) ** gamma
    else:  # MONAI GeneralizedDiceLoss, w_type="square"
        ground = xp.sum(g, axis=axes)
        with np.errstate(divide="ignore"):
            w = 1.0 / (ground * ground)
        infs = xp.isinf(w)
        w = xp.where(infs, xp.zeros_like(w), w)
        w = w + xp.astype(infs, dtype) * xp.max(w, axis=1, keepdims=True)
        if weight is not None:  # arrayloss's extra per-class factor
            w = w * xp.asarray(weight, dtype=dtype)
        numer = 2.0 * xp.sum(tp * w, axis=1) + smooth_nr
        denom = xp.sum((xp.sum(p, axis=axes) + ground) * w, axis=1) + smooth_dr
        return 1.0 - numer / denom
    if weight is not None:  # MONAI skips weight when one class remains; we never do
        f = f * xp.asarray(weight, dtype=dtype)
    return f


def ref_reduce(f: np.ndarray, reduction: str, where: np.ndarray | None = None) -> np.ndarray:
    """MONAI / optax reductions: torch.mean of the (weighted) values, i.e. / count."""
    if where is not None:
        f = np.where(where, f, 0.0)
    if reduction == "none":
        return f
    if reduction == "sum":
        return np.sum(f)
    return np.sum(f) / (np.sum(np.broadcast_to(where, f.shape)) if where is not None else f.size)


# ---------------------------------------------------------------- test data


def make_case(
    mode: str,
    target_kind: str,
    *,
    ignore: bool,
    seed: int = 0,
    spatial: tuple[int, ...] = (4, 5),
    absent: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Channels-first ``(pred, target)``; with ``absent``, the last class is missing from
    sample 0 (soft targets: exactly 0 there, so finite differences need ``absent=False``)."""
    rng = np.random.default_rng(seed)
    num_classes = MODES[mode][0]
    n = 2
    z = rng.normal(size=(n, num_classes, *spatial)) * 1.5
    if mode == "probs":
        pred = ref_activate(np, z, "softmax")
    elif mode == "probs_binary":
        pred = ref_activate(np, z, "sigmoid")
    else:
        pred = z
    labels = rng.integers(0, max(num_classes, 2), size=(n, *spatial))
    if absent and num_classes > 1:
        labels[0][labels[0] == num_classes - 1] = 0
    drop = rng.random(labels.shape) < 0.25
    if target_kind == "labels":
        target: np.ndarray = np.where(drop, IGNORE, labels) if ignore else labels
        return pred, target
    if target_kind == "onehot":
        if num_classes == 1:
            dense = labels[:, None].astype(np.float64)
        else:
            dense = (labels[:, None] == np.arange(num_classes)[None, :, None, None]).astype(float)
        if ignore:
            dense = np.where(drop[:, None], float(IGNORE), dense)
        return pred, dense
    soft = rng.uniform(0.05, 0.95, size=pred.shape)
    if mode in ("probs", "softmax"):
        soft = soft / soft.sum(axis=1, keepdims=True)
    if absent and num_classes > 1:
        soft[0, -1] = 0.0
    if ignore:  # per element (smp's multilabel mode)
        soft = np.where(rng.random(soft.shape) < 0.2, float(IGNORE), soft)
    return pred, soft


def to_layout(pred: np.ndarray, target: np.ndarray, axis: int, labels: bool) -> tuple[Any, Any]:
    """Channels-first arrays in the layout of ``axis`` (1 or -1)."""
    if axis == 1:
        return pred, target
    # contiguous: numeric_grad writes through reshape(-1), which copies a strided view
    last = np.ascontiguousarray(np.moveaxis(pred, 1, -1))
    return last, target if labels else np.ascontiguousarray(np.moveaxis(target, 1, -1))


def kwargs_for(mode: str, **extra: Any) -> dict[str, Any]:
    _, from_logits, multilabel = MODES[mode]
    return {"from_logits": from_logits, "multilabel": multilabel, **extra}


def class_weight(num_classes: int) -> np.ndarray:
    return np.linspace(0.5, 2.0, num_classes)


# --------------------------------------------------------- values vs MONAI


@pytest.mark.parametrize("name", list(LOSSES))
@pytest.mark.parametrize("target_kind", ["labels", "onehot", "soft"])
def test_values_match_monai_reference(name: str, target_kind: str) -> None:
    """Every combination of layout, activation, background, weight, ignore, smoothing."""
    fn = LOSSES[name]
    labels = target_kind == "labels"
    count = 0
    for mode, axis, include_bg, weighted, ignore, smooth, score in itertools.product(
        MODES, (1, -1), (True, False), (False, True), (False, True), SMOOTHING, SCORE_OPTIONS[name]
    ):
        pred, target = make_case(mode, target_kind, ignore=ignore, seed=count)
        num_classes = pred.shape[1]
        w = class_weight(num_classes) if weighted else None
        drop = not include_bg and num_classes > 1
        opts = {"ignore_index": IGNORE if ignore else None, **smooth, **score}
        expected = ref_values(
            np, name, pred, target, mode=mode, labels=labels, include_background=include_bg,
            weight=None if w is None else (w[1:] if drop else w), **opts,
        )  # fmt: skip
        p, t = to_layout(pred, target, axis, labels)
        kw = kwargs_for(mode, axis=axis, include_background=include_bg, weight=w, **opts)
        msg = f"{name} {mode} axis={axis} bg={include_bg} w={weighted} ignore={ignore} {smooth} {score}"
        for reduction in ("none", "sum", "mean"):
            got = fn(p, t, reduction=reduction, **kw)
            assert_close(got, ref_reduce(expected, reduction), err_msg=msg)
        count += 1
    assert count == 160 * len(SCORE_OPTIONS[name])  # x 3 target kinds: 480 (tversky 1440)


@pytest.mark.parametrize("include_bg", [True, False])
def test_weight_per_sample_and_class_broadcasts_to_the_values(include_bg: bool) -> None:
    pred, target = make_case("softmax", "labels", ignore=True)
    w = np.random.default_rng(4).uniform(0.5, 2.0, size=(2, 3))
    kept = w if include_bg else w[:, 1:]
    for name in ("dice", "jaccard", "tversky"):
        expected = ref_values(
            np, name, pred, target, mode="softmax", labels=True, include_background=include_bg,
            weight=kept, ignore_index=IGNORE,
        )  # fmt: skip
        kw = {"axis": 1, "from_logits": True, "ignore_index": IGNORE}
        got = LOSSES[name](pred, target, include_background=include_bg, weight=w, **kw)
        assert_close(got, np.mean(expected))


def test_generalized_dice_weight_is_one_factor_per_class() -> None:
    pred, target = make_case("probs", "labels", ignore=False)
    with pytest.raises(ValueError, match="generalized_dice takes one factor per class"):
        al.generalized_dice(pred, target, axis=1, weight=np.ones((2, 3)))
    w = [0.5, 1.0, 2.0]  # a list joins pred's namespace; entry 0 dropped with the background
    expected = ref_values(
        np, "generalized_dice", pred, target, mode="probs", labels=True,
        include_background=False, weight=np.array(w[1:]),
    )  # fmt: skip
    got = al.generalized_dice(pred, target, axis=1, include_background=False, weight=w)
    assert_close(got, np.mean(expected))


def test_weight_without_background_accepts_kept_classes_only() -> None:
    pred, target = make_case("softmax", "labels", ignore=False)
    w = class_weight(3)
    full = al.dice(pred, target, axis=1, from_logits=True, include_background=False, weight=w)
    kept = al.dice(pred, target, axis=1, from_logits=True, include_background=False, weight=w[1:])
    assert_close(kept, full)


@pytest.mark.parametrize("name", list(LOSSES))
def test_where_mask_mean_is_mean_of_kept_values(name: str) -> None:
    pred, target = make_case("softmax", "labels", ignore=True)
    fn = LOSSES[name]
    full = fn(pred, target, axis=1, from_logits=True, ignore_index=IGNORE, reduction="none")
    where = np.array([[True, False, True], [False, True, True]])
    if name == "generalized_dice":
        where = np.array([False, True])
    got = fn(pred, target, axis=1, from_logits=True, ignore_index=IGNORE, where=where)
    assert_close(got, np.mean(full[where]))
    none = fn(
        pred, target, axis=1, from_logits=True, ignore_index=IGNORE, where=where, reduction="none"
    )
    assert_close(none, np.where(where, full, 0.0))
    g = al.grad(fn)(pred, target, axis=1, from_logits=True, ignore_index=IGNORE, where=where)
    assert np.all(np.isfinite(g))


def test_reduction_none_shapes() -> None:
    pred, target = make_case("softmax", "labels", ignore=False)
    p, t = to_layout(pred, target, -1, True)
    for fn in (al.dice, al.jaccard, al.tversky):
        assert fn(p, t, from_logits=True, reduction="none").shape == (2, 3)
        assert fn(p, t, from_logits=True, include_background=False, reduction="none").shape == (
            2,
            2,
        )
    assert al.generalized_dice(p, t, from_logits=True, reduction="none").shape == (2,)


def test_one_channel_ignores_include_background_as_monai() -> None:
    pred, target = make_case("sigmoid", "labels", ignore=False)
    a = al.dice(pred, target, axis=1, from_logits=True, reduction="none")
    b = al.dice(pred, target, axis=1, from_logits=True, include_background=False, reduction="none")
    assert a.shape == (2, 1)
    assert_close(b, a)


# ------------------------------------------------------------ optax


def _optax_dice() -> Any:
    optax = optional("optax")
    losses = optax.losses
    if not hasattr(losses, "dice_loss"):
        pytest.skip(f"optax {optax.__version__} has no optax.losses.dice_loss")
    return losses.dice_loss


@pytest.mark.parametrize(
    ("mode", "alpha", "beta", "ignore_background", "weighted"),
    [
        ("softmax", 0.5, 0.5, False, False),
        ("softmax", 0.5, 0.5, True, True),
        ("softmax", 0.3, 0.7, False, True),
        ("sigmoid", 0.5, 0.5, False, False),
        ("probs", 0.2, 0.6, True, False),
    ],
)
def test_values_and_grads_match_optax_dice_loss(
    mode: str, alpha: float, beta: float, ignore_background: bool, weighted: bool
) -> None:
    """optax's dice_loss(smooth=s): dice with smooth_nr = smooth_dr = 2s, tversky with s."""
    dice_loss = _optax_dice()
    import jax
    import jax.numpy as jnp

    pred, target = make_case(mode, "onehot", ignore=False)
    p, t = to_layout(pred, target, -1, False)  # optax is channels-last
    num_classes = p.shape[-1]
    w = class_weight(num_classes) if weighted else None
    s = 0.7

    def reference(x: Any, reduction: str) -> Any:
        return dice_loss(
            x, jnp.asarray(t), class_weights=None if w is None else jnp.asarray(w), smooth=s,
            alpha=alpha, beta=beta, apply_softmax=mode != "probs", reduction=reduction,
            ignore_background=ignore_background,
        )  # fmt: skip

    kw = kwargs_for(mode, include_background=not ignore_background, weight=w)
    if alpha == beta == 0.5:
        fn, kw = al.dice, {**kw, "smooth_nr": 2 * s, "smooth_dr": 2 * s}
    else:
        fn, kw = al.tversky, {**kw, "alpha": alpha, "beta": beta, "smooth_nr": s, "smooth_dr": s}
    expected_none = np.asarray(reference(jnp.asarray(p), "none"))
    assert_close(fn(p, t, reduction="none", **kw), expected_none)
    assert_close(fn(p, t, **kw), np.mean(np.asarray(reference(jnp.asarray(p), "mean"))))
    expected_grad = jax.grad(lambda x: jnp.mean(reference(x, "mean")))(jnp.asarray(p))
    assert_close(al.grad(fn)(p, t, **kw), np.asarray(expected_grad))


# -------------------------------------------------------------- gradients


def reference_grads(
    name: str, pred: np.ndarray, target: np.ndarray, *, axis: int, labels: bool, reduction: str,
    cot: np.ndarray | None = None, **opts: Any,
) -> tuple[np.ndarray, np.ndarray | None]:  # fmt: skip
    """torch.autograd of the reference (float64), in the layout of ``axis``."""
    torch = optional("torch")
    import array_api_compat.torch as xp_torch

    p, t = to_layout(pred, target, axis, labels)
    tp = torch.from_numpy(p.copy()).requires_grad_(True)
    tt = torch.from_numpy(np.asarray(t).copy())
    differentiable = not labels and name != "generalized_dice"
    if differentiable:
        tt.requires_grad_(True)
    a, b = (tp.movedim(-1, 1), tt if labels else tt.movedim(-1, 1)) if axis == -1 else (tp, tt)
    f = ref_values(xp_torch, name, a, b, labels=labels, **opts)
    if cot is not None:
        loss = torch.sum(f * torch.from_numpy(cot))
    else:
        loss = torch.sum(f) if reduction == "sum" else torch.mean(f)
    grads = torch.autograd.grad(loss, (tp, tt) if differentiable else (tp,))
    return grads[0].numpy(), grads[1].numpy() if differentiable else None


@pytest.mark.parametrize("name", list(LOSSES))
@pytest.mark.parametrize("target_kind", ["labels", "onehot", "soft"])
def test_grads_match_autograd_of_reference(name: str, target_kind: str) -> None:
    labels = target_kind == "labels"
    fn = LOSSES[name]
    wrt = "pred" if labels or name == "generalized_dice" else ("pred", "target")
    for i, (mode, axis, include_bg, ignore) in enumerate(
        itertools.product(MODES, (1, -1), (True, False), (False, True))
    ):
        pred, target = make_case(mode, target_kind, ignore=ignore, seed=100 + i)
        num_classes = pred.shape[1]
        drop = not include_bg and num_classes > 1
        w = class_weight(num_classes)
        score = SCORE_OPTIONS[name][i % len(SCORE_OPTIONS[name])]
        reduction = ("mean", "sum")[i % 2]
        opts = {"ignore_index": IGNORE if ignore else None, **score}
        exp_p, exp_t = reference_grads(
            name, pred, target, axis=axis, labels=labels, reduction=reduction, mode=mode,
            include_background=include_bg, weight=w[1:] if drop else w, **opts,
        )  # fmt: skip
        p, t = to_layout(pred, target, axis, labels)
        kw = kwargs_for(mode, axis=axis, include_background=include_bg, weight=w, **opts)
        got = al.grad(fn, wrt=wrt)(p, t, reduction=reduction, **kw)
        msg = f"{name} {mode} axis={axis} bg={include_bg} ignore={ignore} {score}"
        if isinstance(got, tuple):
            assert_close(got[0], exp_p, atol=1e-14, err_msg=msg)
            assert_close(got[1], exp_t, atol=1e-14, err_msg=msg)
            if ignore:
                assert np.all(got[1][t == IGNORE] == 0)
        else:
            assert_close(got, exp_p, atol=1e-14, err_msg=msg)


@pytest.mark.parametrize("name", list(LOSSES))
def test_grad_with_cotangent_for_reduction_none(name: str) -> None:
    pred, target = make_case("softmax", "labels", ignore=True)
    fn = LOSSES[name]
    shape = (2,) if name == "generalized_dice" else (2, 3)
    cot = np.random.default_rng(5).normal(size=shape)
    expected, _ = reference_grads(
        name, pred, target, axis=1, labels=True, reduction="none", cot=cot, mode="softmax",
        ignore_index=IGNORE,
    )  # fmt: skip
    got = al.grad(fn)(
        pred, target, axis=1, from_logits=True, ignore_index=IGNORE, reduction="none", cotangent=cot
    )
    assert_close(got, expected, atol=1e-14)


FD_CASES = [  # (mode, target kind, axis, include_background, ignore)
    ("probs", "labels", 1, True, True),
    ("softmax", "labels", -1, False, True),
    ("softmax", "soft", 1, False, False),
    ("sigmoid", "onehot", -1, True, True),
    ("multilabel", "soft", -1, True, False),
    ("probs_binary", "soft", 1, True, False),
]


@pytest.mark.parametrize("name", list(LOSSES))
@pytest.mark.parametrize(("mode", "target_kind", "axis", "include_bg", "ignore"), FD_CASES)
def test_grads_match_finite_differences(
    name: str, mode: str, target_kind: str, axis: int, include_bg: bool, ignore: bool
) -> None:
    fn = LOSSES[name]
    labels = target_kind == "labels"
    pred, target = make_case(mode, target_kind, ignore=ignore, seed=7, spatial=(2, 3), absent=False)
    p, t = to_layout(pred, target, axis, labels)
    score = SCORE_OPTIONS[name][-1]
    kw = kwargs_for(
        mode, axis=axis, include_background=include_bg, weight=class_weight(pred.shape[1]),
        ignore_index=IGNORE if ignore else None, **score,
    )  # fmt: skip
    differentiable = target_kind == "soft" and name != "generalized_dice"
    wrt = ("pred", "target") if differentiable else ("pred",)
    got = al.grad(fn, wrt=wrt)(p, t, **kw)

    def value(pp: np.ndarray, tt: np.ndarray) -> float:
        return float(fn(pp, tt, **kw))

    assert_close(got[0], numeric_grad(value, [p, t], 0), rtol=1e-6, atol=1e-9)
    if differentiable:
        assert_close(got[1], numeric_grad(value, [p, t], 1), rtol=1e-6, atol=1e-9)


def test_generalized_dice_has_no_target_gradient() -> None:
    pred, target = make_case("probs", "soft", ignore=False)
    with pytest.raises(ValueError, match="differentiable arguments are: pred"):
        al.grad(al.generalized_dice, wrt="target")(pred, target, axis=1)


@pytest.mark.parametrize("name", ["dice", "jaccard", "tversky"])
def test_integer_targets_are_not_differentiable(name: str) -> None:
    pred, target = make_case("probs", "labels", ignore=False)
    with pytest.raises(ValueError, match="differentiable arguments are: pred"):
        al.grad(LOSSES[name], wrt="target")(pred, target, axis=1)
    onehot = (target[:, None] == np.arange(3)[None, :, None, None]).astype(np.int64)
    assert_close(LOSSES[name](pred, onehot, axis=1), LOSSES[name](pred, target, axis=1))


# -------------------------------------------------------------- backends

#: (loss, mode, target kind, axis, include_background, ignore, weighted, reduction)
BACKEND_CASES = [
    ("dice", "softmax", "labels", 1, True, True, True, "mean"),
    ("dice", "multilabel", "soft", -1, True, True, True, "none"),
    ("jaccard", "probs", "onehot", -1, False, False, False, "sum"),
    ("jaccard", "sigmoid", "labels", 1, True, True, False, "mean"),
    ("tversky", "softmax", "soft", -1, False, True, True, "none"),
    ("tversky", "probs_binary", "onehot", 1, True, False, False, "mean"),
    ("generalized_dice", "softmax", "labels", -1, False, True, True, "none"),
    ("generalized_dice", "multilabel", "onehot", 1, True, False, False, "sum"),
]


@functools.cache
def backend_expectation(case: int) -> tuple[Any, ...]:
    """Inputs, options and reference value / gradients of ``BACKEND_CASES[case]``."""
    name, mode, target_kind, axis, include_bg, ignore, weighted, reduction = BACKEND_CASES[case]
    labels = target_kind == "labels"
    pred, target = make_case(mode, target_kind, ignore=ignore, seed=case)
    num_classes = pred.shape[1]
    w = class_weight(num_classes) if weighted else None
    ref_w = w[1:] if w is not None and not include_bg and num_classes > 1 else w
    opts = {"ignore_index": IGNORE if ignore else None, **SCORE_OPTIONS[name][-1]}
    ref_opts = {"mode": mode, "include_background": include_bg, "weight": ref_w, **opts}
    values = ref_values(np, name, pred, target, labels=labels, **ref_opts)
    expected = ref_reduce(values, reduction)
    cot = np.ones(expected.shape) if reduction == "none" else None
    grads = reference_grads(
        name, pred, target, axis=axis, labels=labels, reduction=reduction, cot=cot, **ref_opts
    )
    p, t = to_layout(pred, target, axis, labels)
    kw = kwargs_for(mode, axis=axis, include_background=include_bg, reduction=reduction, **opts)
    return name, p, t, w, kw, expected, tuple(g for g in grads if g is not None)


@pytest.mark.parametrize("case", range(len(BACKEND_CASES)), ids=lambda c: BACKEND_CASES[c][0])
def test_every_backend_gives_reference_values_and_grads(backend: Any, case: int) -> None:
    name, p, t, w, kw, expected, grads = backend_expectation(case)
    fn = LOSSES[name]
    args = (backend.asarray(p), backend.asarray(t))
    kw = {**kw, "weight": None if w is None else backend.asarray(w)}
    got = backend.call(fn, *args, **kw)
    assert_close(backend.to_numpy(got), expected)
    wrt = ("pred", "target") if len(grads) == 2 else ("pred",)
    g = backend.call(al.grad(fn, wrt=wrt), *args, **kw)
    assert_close(backend.to_numpy(g), grads, atol=1e-14)


@pytest.mark.parametrize("name", list(LOSSES))
def test_float32_gives_same_numbers_on_every_backend(backend: Any, name: str) -> None:
    fn = LOSSES[name]
    pred, target = make_case("softmax", "labels", ignore=True, seed=3)
    p, t = to_layout(pred, target, -1, True)
    kw = {"from_logits": True, "ignore_index": IGNORE, "include_background": False}
    expected = fn(p, t, **kw)
    expected_grad = al.grad(fn)(p, t, **kw)
    p32 = backend.asarray(p, dtype="float32")
    got = backend.call(fn, p32, backend.asarray(t), **kw)
    g = backend.call(al.grad(fn), p32, backend.asarray(t), **kw)
    assert str(got.dtype).endswith("float32")
    assert str(g.dtype).endswith("float32")
    assert_close(backend.to_numpy(got), expected, rtol=RTOL32)
    assert_close(backend.to_numpy(g), expected_grad, rtol=RTOL32, atol=RTOL32 * 1e-2)


@pytest.mark.parametrize("name", list(LOSSES))
def test_grads_match_jax_grad_of_jnp_reference(name: str) -> None:
    jax = optional("jax")
    import jax.numpy as jnp

    labels = name == "generalized_dice"
    pred, target = make_case("softmax", "labels" if labels else "soft", ignore=True, seed=11)
    p, t = to_layout(pred, target, -1, labels)
    opts = {"ignore_index": IGNORE, **SCORE_OPTIONS[name][-1]}
    w = class_weight(3)

    def reference(a: Any, b: Any) -> Any:
        b = b if labels else jnp.moveaxis(b, -1, 1)
        f = ref_values(
            jnp, name, jnp.moveaxis(a, -1, 1), b, mode="softmax", labels=labels,
            include_background=False, weight=w[1:], **opts,
        )  # fmt: skip
        return jnp.mean(f)

    argnums = (0,) if labels else (0, 1)
    expected = jax.jit(jax.grad(reference, argnums=argnums))(jnp.asarray(p), jnp.asarray(t))
    wrt = ("pred",) if labels else ("pred", "target")
    got = al.grad(LOSSES[name], wrt=wrt)(
        p, t, from_logits=True, include_background=False, weight=w, **opts
    )
    assert_close(got, tuple(np.asarray(e) for e in expected), atol=1e-14)


def test_jax_grad_and_torch_backward_use_the_table() -> None:
    jax = optional("jax")
    torch = optional("torch")
    import jax.numpy as jnp

    fn = al.tversky
    pred, target = make_case("softmax", "soft", ignore=False)
    kw = {"axis": 1, "from_logits": True, "alpha": 0.3, "beta": 0.7, "gamma": 2.0}
    gp, gt = al.grad(fn, wrt=("pred", "target"))(pred, target, **kw)
    jp, jt = jax.grad(lambda a, b: fn(a, b, **kw), argnums=(0, 1))(
        jnp.asarray(pred), jnp.asarray(target)
    )
    assert_close(np.asarray(jp), gp)
    assert_close(np.asarray(jt), gt)
    tp = torch.from_numpy(pred.copy()).requires_grad_(True)
    tt = torch.from_numpy(target.copy()).requires_grad_(True)
    fn(tp, tt, **kw).backward()
    assert_close(tp.grad.numpy(), gp)
    assert_close(tt.grad.numpy(), gt)


# ------------------------------------------------------------------ edges


def _all_ignored(backend: Any, name: str) -> None:
    pred, _ = make_case("softmax", "labels", ignore=False)
    target = np.full((2, 4, 5), 255)
    args = (backend.asarray(pred), backend.asarray(target))
    kw = {"axis": 1, "from_logits": True, "ignore_index": 255}
    # I = P = T = 0: 1 - smooth_nr / smooth_dr
    assert_close(backend.to_numpy(backend.call(LOSSES[name], *args, **kw)), 0.0)
    g = backend.to_numpy(backend.call(al.grad(LOSSES[name]), *args, **kw))
    assert np.all(g == 0)


@pytest.mark.parametrize("name", list(LOSSES))
def test_all_pixels_ignored_gives_zero_loss_and_zero_gradient(name: str) -> None:
    from conftest import Backend, Harness

    _all_ignored(Harness(Backend.NUMPY), name)


def test_all_pixels_ignored_generalized_dice_on_every_backend(backend: Any) -> None:
    _all_ignored(backend, "generalized_dice")


@pytest.mark.parametrize("name", list(LOSSES))
def test_zero_predictions_are_finite(name: str) -> None:
    _, target = make_case("probs", "labels", ignore=False)
    pred = np.zeros((2, 3, 4, 5))
    value, g = al.value_and_grad(LOSSES[name])(pred, target, axis=1, reduction="none")
    expected = ref_values(np, name, pred, target, mode="probs", labels=True)
    assert_close(value, expected)
    assert np.all(np.isfinite(g))


def test_empty_class_with_no_prediction_scores_zero_and_with_prediction_near_one() -> None:
    target = np.zeros((1, 2, 2), dtype=np.int64)  # class 1 absent
    pred = np.zeros((1, 2, 2, 2))
    pred[..., 0] = 1.0
    assert_close(al.dice(pred, target, reduction="none"), np.array([[0.0, 0.0]]))
    pred[0, 0, 0] = [0.5, 0.5]
    values = al.dice(pred, target, reduction="none")
    assert_close(values[0, 1], 1 - 1e-5 / (0.5 + 1e-5))


def test_generalized_dice_absent_class_takes_largest_finite_weight() -> None:
    target = np.array([[0, 0, 0, 1]])  # (N=1, 4 pixels); class 2 absent
    pred = np.full((1, 4, 3), 0.2)
    pred[..., 0] = 0.6
    # T = (3, 1, 0): weights 1/9, 1, and the absent class takes max = 1
    w = np.array([1 / 9, 1.0, 1.0])
    inter, psum, tsum = np.array([1.8, 0.2, 0.0]), np.array([2.4, 0.8, 0.8]), np.array([3, 1, 0])
    expected = 1 - (2 * np.sum(w * inter) + 1e-5) / (np.sum(w * (psum + tsum)) + 1e-5)
    assert_close(al.generalized_dice(pred, target, reduction="none"), np.array([expected]))
    # every class absent: all weights 0, so 1 - smooth_nr / smooth_dr
    assert_close(al.generalized_dice(pred, np.full((1, 4), 7), ignore_index=7), 0.0)


def test_focal_tversky_gradient_is_zero_at_perfect_score_below_gamma_one() -> None:
    target = np.array([[0, 1, 1, 0]])
    pred = np.eye(2)[target]  # perfect one-hot prediction
    for gamma in (0.5, 2.0):
        value, g = al.value_and_grad(al.tversky)(pred, target, gamma=gamma)
        assert_close(value, 0.0)
        assert np.all(g == 0)


def test_extreme_logits_give_finite_gradients() -> None:
    pred, target = make_case("softmax", "labels", ignore=False)
    logits = np.where(pred > 0, 100.0, -100.0)
    for fn in LOSSES.values():
        for multilabel in (False, True):
            g = al.grad(fn)(logits, target, axis=1, from_logits=True, multilabel=multilabel)
            assert np.all(np.isfinite(g))


def test_no_spatial_axes_scores_each_pixel() -> None:
    pred = np.array([[0.7, 0.3], [0.4, 0.6]])
    target = np.array([0, 0])
    expected = 1 - (2 * pred * np.eye(2)[target] + 1e-5) / (pred + np.eye(2)[target] + 1e-5)
    assert_close(al.dice(pred, target, reduction="none"), expected)


# ----------------------------------------------------------------- errors


def test_labels_out_of_range_raise_eagerly_and_give_nan_lazily(backend: Any) -> None:
    pred, target = make_case("probs", "labels", ignore=False)
    target = target.copy()
    target[1, 0, 0] = 3
    args = (backend.asarray(pred), backend.asarray(target))
    if backend.lazy:
        value = backend.to_numpy(backend.call(al.dice, *args, axis=1))
        assert np.isnan(value)
    else:
        with pytest.raises(ValueError, match=r"target has an entry 3 outside \[0, 3\)"):
            backend.call(al.dice, *args, axis=1)


def test_probabilities_out_of_range_raise_eagerly_and_give_nan_lazily(backend: Any) -> None:
    pred, target = make_case("probs", "labels", ignore=False)
    pred = pred.copy()
    pred[0, 0, 0, 0] = 1.5
    args = (backend.asarray(pred), backend.asarray(target))
    if backend.lazy:
        assert np.isnan(backend.to_numpy(backend.call(al.tversky, *args, axis=1)))
    else:
        with pytest.raises(ValueError, match=r"pred holds probabilities .* 1.5 outside \[0, 1\]"):
            backend.call(al.tversky, *args, axis=1)


def test_soft_targets_are_not_range_checked() -> None:
    """As PyTorch's probability targets: gradcheck may step a one-hot target off {0, 1}."""
    pred, target = make_case("probs", "soft", ignore=False)
    target = target.copy()
    target[0, 0, 0, 0] = -0.25
    target[1, 1, 1, 1] = 1.25
    for name, fn in LOSSES.items():
        expected = ref_values(np, name, pred, target, mode="probs", labels=False)
        assert_close(fn(pred, target, axis=1, reduction="none"), expected)


def test_bad_arguments_raise_with_the_argument_named() -> None:
    pred, target = make_case("probs", "labels", ignore=False)
    with pytest.raises(TypeError, match="target holds class indices"):
        al.dice(pred, target.astype(np.float64), axis=1)
    with pytest.raises(ValueError, match=r"target has shape \(2, 5\)"):
        al.dice(pred, target[:, 0], axis=1)
    with pytest.raises(ValueError, match="axis=0 is the batch axis"):
        al.dice(pred, target, axis=0)
    with pytest.raises(ValueError, match="axis=4 is out of range"):
        al.dice(pred, target, axis=4)
    with pytest.raises(ValueError, match=r"weight has shape \(2,\)"):
        al.dice(pred, target, axis=1, weight=np.ones(2))
    with pytest.raises(ValueError, match="smooth_dr=-1"):
        al.dice(pred, target, axis=1, smooth_dr=-1)
    with pytest.raises(ValueError, match="gamma=0"):
        al.tversky(pred, target, axis=1, gamma=0)
    with pytest.raises(ValueError, match="reduction='batchmean'"):
        al.generalized_dice(pred, target, axis=1, reduction="batchmean")
    with pytest.raises(TypeError, match="pred must be a real floating"):
        al.dice(target, target[:, 0], axis=1)
    with pytest.raises(ValueError, match="batch axis"):
        al.dice(np.ones(3) / 3, np.array(0))


def test_registry_records_the_monai_references() -> None:
    records = al.registry()
    assert records["dice"].reference == "monai.losses.DiceLoss"
    assert records["dice"].wrt == ("pred", "target")
    assert records["generalized_dice"].wrt == ("pred",)
    assert records["tversky"].family == "segmentation"
