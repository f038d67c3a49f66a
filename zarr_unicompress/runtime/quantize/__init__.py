"""Quantise stage: wavelet bands or voxel residuals (float32 / int) and a step in, integer
symbol groups out, plus the ratio mode's rate control (the step that fills a byte budget) and
choice of base.

Modules: :mod:`.band_units` (bands as coding units, zero blocks, their symbol groups),
:mod:`.rate_control` (size estimate and step search), :mod:`.base_choice` (INR or flat base),
:mod:`.voxel_residual` (``max_error`` quantiser, context classes), and the loops (the one
implementation of each kernel, compiled by numba) :mod:`.quantize_loops`, :mod:`.voxel_loops`.
"""
