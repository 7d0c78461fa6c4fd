"""mtl-numpy: multi-task learning from scratch in NumPy.

One shared network answers several yes/no questions about the same input at
once; labels may be missing ('?', stored as nan) and a '?' enters neither the
cost nor the gradient. Every forward and backward pass is written by hand and
checked numerically; the same model runs on NumPy, Numba and CuPy.

>>> import mtl_numpy as mtl
>>> Y = mtl.encode_labels([[1, 0, "?"], [0, "?", 1]])
>>> mtl.label_mask(Y)
array([[1., 1., 0.],
       [1., 0., 1.]])
"""
from . import datasets, diagnostics, layers, weighting
from .backends import available_backends, get_backend, to_numpy
from .gradcheck import GradientCheckResult, eval_numerical_gradient_array, gradient_check, relative_error
from .guards import TrainingDiverged
from .io import load_model, save_model
from .labels import TASKS, encode_labels, known_labels, label_mask, validate_labels
from .losses import masked_logistic_cost, masked_logistic_cost_and_grad
from .metrics import format_metrics_table, mean_metric, task_metrics
from .models import SharedCNN, SharedMLP, SharedNetwork
from .optim import Adam, GradientDescent, Momentum, TrainableSubset, get_optimizer
from .training import History, evaluate, fit, gradient_conflict, predict_proba_batched

__version__ = "0.1.0"

__all__ = [
    "TASKS", "encode_labels", "label_mask", "known_labels", "validate_labels",
    "masked_logistic_cost", "masked_logistic_cost_and_grad",
    "SharedMLP", "SharedCNN", "SharedNetwork",
    "gradient_check", "GradientCheckResult", "eval_numerical_gradient_array", "relative_error",
    "GradientDescent", "Momentum", "Adam", "TrainableSubset", "get_optimizer",
    "fit", "History", "evaluate", "predict_proba_batched", "TrainingDiverged",
    "gradient_conflict", "weighting", "diagnostics",
    "task_metrics", "format_metrics_table", "mean_metric",
    "save_model", "load_model",
    "datasets", "layers", "available_backends", "get_backend", "to_numpy",
]
