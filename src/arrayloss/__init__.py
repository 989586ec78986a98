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

__version__ = "0.1.0"
