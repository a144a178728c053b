"""Optional bridges to other tools; each imports its tool lazily and names its extra when it is missing.

- :mod:`nasforge.integrations.optuna`: nasforge spaces as Optuna search spaces, Optuna samplers as nasforge
  optimizers, and the Optuna-journal mirror of a study that ``nasforge dashboard`` serves.
"""
