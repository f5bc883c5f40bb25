"""The numeric reference trainer: float64 numpy, DAG networks, backprop, optimizers, checks.

This subpackage knows nothing of ``theory``, ``properties`` or ``reports``.
"""
