"""The reduction contract: none/sum/mean/batchmean, weight, where, denominators."""

from __future__ import annotations

import numpy as np
import pytest

import arrayloss as al
from arrayloss._reduce import loss_cotangent, reduce_loss

from _helpers import assert_close

LOSS = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
WEIGHT = np.array([[0.5, 1.0, 2.0], [1.0, 0.0, 3.0]])
WHERE = np.array([[True, False, True], [True, True, False]])


def _reduce(xp, reduction, weight=None, where=None, denominator="weight", loss=LOSS):
    return reduce_loss(
        xp,
        xp.asarray(loss),
        reduction=reduction,
        weight=None if weight is None else xp.asarray(weight),
        where=None if where is None else xp.asarray(where),
        denominator=denominator,
    )


def test_none_sum_mean_without_weight(backend):
    xp = backend.xp
    assert_close(backend.to_numpy(_reduce(xp, "none")), LOSS)
    assert_close(backend.to_numpy(_reduce(xp, "sum")), 21.0)
    assert_close(backend.to_numpy(_reduce(xp, "mean")), 3.5)


def test_weighted_mean_divides_by_the_weight_sum(backend):
    expected = (LOSS * WEIGHT).sum() / WEIGHT.sum()
    assert_close(backend.to_numpy(_reduce(backend.xp, "mean", WEIGHT)), expected)


def test_count_denominator_ignores_the_weights(backend):
    expected = (LOSS * WEIGHT).sum() / LOSS.size
    assert_close(
        backend.to_numpy(_reduce(backend.xp, "mean", WEIGHT, denominator="count")), expected
    )


def test_mask_leaves_numerator_and_denominator(backend):
    kept = LOSS[WHERE]
    assert_close(backend.to_numpy(_reduce(backend.xp, "mean", where=WHERE)), kept.mean())
    weighted = (LOSS * WEIGHT)[WHERE].sum() / WEIGHT[WHERE].sum()
    assert_close(backend.to_numpy(_reduce(backend.xp, "mean", WEIGHT, WHERE)), weighted)
    assert_close(
        backend.to_numpy(_reduce(backend.xp, "none", where=WHERE)), np.where(WHERE, LOSS, 0)
    )


def test_batchmean_divides_by_the_first_axis(backend):
    assert_close(backend.to_numpy(_reduce(backend.xp, "batchmean")), 21.0 / 2)


def test_empty_sum_is_zero_and_mean_is_nan(backend):
    empty = np.zeros((0, 3))
    assert_close(backend.to_numpy(_reduce(backend.xp, "sum", loss=empty)), 0.0)
    assert np.isnan(backend.to_numpy(_reduce(backend.xp, "mean", loss=empty)))


def test_cotangent_folds_the_mean_scale_and_the_weights(backend):
    xp = backend.xp
    cot = loss_cotangent(
        xp, xp.asarray(LOSS), reduction="mean", weight=xp.asarray(WEIGHT), where=xp.asarray(WHERE)
    )
    expected = np.where(WHERE, WEIGHT / WEIGHT[WHERE].sum(), 0.0)
    assert_close(backend.to_numpy(cot), expected)


def test_weight_that_does_not_broadcast_names_both_shapes():
    with pytest.raises(
        ValueError, match=r"weight has shape \(4,\) but the unreduced loss has shape \(2, 3\)"
    ):
        al.mse(np.ones((2, 3)), np.ones((2, 3)), weight=np.ones(4))


def test_weight_may_not_grow_the_loss():
    with pytest.raises(ValueError, match="weight must broadcast to the unreduced loss"):
        al.mse(np.ones(3), np.ones(3), weight=np.ones((2, 3)))


def test_where_must_be_boolean():
    with pytest.raises(TypeError, match="where must be a boolean array, got dtype float64"):
        al.mse(np.ones(3), np.ones(3), where=np.ones(3))


def test_unknown_reduction_lists_the_valid_ones():
    with pytest.raises(
        ValueError, match=r"reduction='avg' is not valid; expected one of 'none', 'sum', 'mean'"
    ):
        al.mse(np.ones(3), np.ones(3), reduction="avg")


def test_float32_weights_do_not_upcast():
    value = al.mse(np.ones(3, np.float32), np.zeros(3, np.float32), weight=np.ones(3, np.float32))
    assert value.dtype == np.float32
