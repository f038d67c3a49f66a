"""Fitting of the per-array models on the encoder's side (NumPy only; the decode path never
imports this package)."""
