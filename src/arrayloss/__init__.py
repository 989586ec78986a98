"""arrayloss: loss functions written once against the array API standard.

Every loss runs unchanged on NumPy, CuPy, JAX, PyTorch, Dask and array-api-strict and
ships an analytic gradient table (see ``al.registry()``).
"""

from __future__ import annotations

from ._dispatch import BackendInfo as BackendInfo
from ._dispatch import backends as backends
from ._dispatch import use_backend as use_backend
from ._spec import LossRecord as LossRecord
from ._spec import registry as registry
from .autodiff import grad as grad
from .autodiff import value_and_grad as value_and_grad
from .losses.binary import binary_cross_entropy as binary_cross_entropy
from .losses.binary import (
    binary_cross_entropy_with_logits as binary_cross_entropy_with_logits,
)
from .losses.binary import sigmoid_focal_loss as sigmoid_focal_loss
from .losses.categorical import categorical_cross_entropy as categorical_cross_entropy
from .losses.categorical import (
    sparse_categorical_cross_entropy as sparse_categorical_cross_entropy,
)
from .losses.distribution import cosine_similarity_loss as cosine_similarity_loss
from .losses.distribution import js_div as js_div
from .losses.distribution import kl_div as kl_div
from .losses.large_vocab import chunked_cross_entropy as chunked_cross_entropy
from .losses.large_vocab import linear_cross_entropy as linear_cross_entropy
from .losses.margin import hinge as hinge
from .losses.margin import multi_margin as multi_margin
from .losses.margin import multilabel_soft_margin as multilabel_soft_margin
from .losses.margin import soft_margin as soft_margin
from .losses.margin import squared_hinge as squared_hinge
from .losses.metric import contrastive as contrastive
from .losses.metric import cosine_embedding as cosine_embedding
from .losses.metric import ntxent as ntxent
from .losses.metric import triplet_margin as triplet_margin
from .losses.ranking import hinge_embedding as hinge_embedding
from .losses.ranking import margin_ranking as margin_ranking
from .losses.regression import gaussian_nll as gaussian_nll
from .losses.regression import huber as huber
from .losses.regression import l1 as l1
from .losses.regression import log_cosh as log_cosh
from .losses.regression import mae as mae
from .losses.regression import mape as mape
from .losses.regression import mse as mse
from .losses.regression import msle as msle
from .losses.regression import poisson_nll as poisson_nll
from .losses.regression import quantile as quantile
from .losses.regression import rmse as rmse
from .losses.regression import smooth_l1 as smooth_l1
from .losses.regression import tweedie_deviance as tweedie_deviance
from .losses.segmentation import dice as dice
from .losses.segmentation import generalized_dice as generalized_dice
from .losses.segmentation import jaccard as jaccard
from .losses.segmentation import tversky as tversky
from .losses.softmax import cross_entropy as cross_entropy
from .losses.softmax import nll_loss as nll_loss
from .losses.softmax import poly1_cross_entropy as poly1_cross_entropy
from .losses.softmax_focal import softmax_focal_loss as softmax_focal_loss

__version__ = "0.1.0"
