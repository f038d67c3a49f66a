"""Causal predictive coding for the error-bounded (``max_error=E``, E = 0 lossless included) mode.

Data flow of one chunk (z, y, x) of integers:

* :mod:`.taps`: the causal neighbourhood (14 taps in the slice, 22 in the two previous slices),
  the padded work layout and the activity contexts;
* :mod:`.model`: the per-array :class:`~.model.PredictorModel`, a codebook of linear predictors
  with fixed-point integer coefficients (integer arrays plus a JSON header, validated on load);
* :mod:`.range_coder`: an adaptive binary range coder with integer (16-bit, two-rate)
  probabilities;
* :mod:`.kernels`: the closed-loop prediction, quantisation (step 2E+1), bias correction and the
  binarisation of the quantised residuals, encoder and decoder side by side (plain Python that
  :mod:`.loops` compiles with numba);
* :mod:`.codec`: bytes <-> chunk, with the per-token predictor choice and the raw fallback
  (payload version 1, v0.5; still written for chunks of range >= 2**27);
* payload version 2 (v0.6 on): :mod:`.row_kernels` (the per-row closed loop, decoder and encoder),
  :mod:`.encode_kernels` (the encoder's predictor choice and symbols), :mod:`.tables` (static
  rANS tables per context), :mod:`.fast_loops` (compiled), :mod:`.fast_codec` (bytes <-> chunk).

Nothing here imports the fitting code (:mod:`zarr_unicompress.fitting.predictors`).
"""
