"""Transform stage: voxels minus a base (float32, z, y, x) in, CDF 9/7 wavelet bands per slice
out (analysis), and back (synthesis, with dequantisation and the base for ratio-mode decoding).

Modules: :mod:`.cdf97` (2D lifting per slice, slabs), :mod:`.wavelet_residual` (levels, band
layout, dead-zone quantiser, 4 x 4 zero blocks, stream parameters), :mod:`.compiled_synthesis`
(a ratio-mode chunk's whole reconstruction), :mod:`.cdf97_z` (the CDF 9/7 wavelet along z of
the 3D ratio coder), and the loops (the one implementation of each kernel, compiled by numba)
:mod:`.lifting_loops`, :mod:`.block_loops`, :mod:`.synthesis_loops`, :mod:`.zlift_loops`.
"""
