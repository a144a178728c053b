"""Performance predictors for NB201: encodings of an arch (one-hot, BANANAS paths, zero-cost scores) and models
(scikit-learn GBT, random forest, GP, MLP ensemble) behind ``fit(archs, y)`` / ``predict(archs)``, and the "how
powerful are performance predictors" evaluation (White et al., NeurIPS 2021). numpy and scikit-learn only."""

from nasforge.predictors.encodings import ENCODINGS, ZCTable, encode, onehot, path
from nasforge.predictors.evaluate import EvalSettings, evaluate
from nasforge.predictors.models import MODELS, Predictor

__all__ = ["ENCODINGS", "MODELS", "EvalSettings", "Predictor", "ZCTable", "encode", "evaluate", "onehot", "path"]
