"""Decode-side runtime, by stage. A chunk (z, y, x) flows through:

* :mod:`.chunk_codec` / :mod:`.opening`: chunk <-> stream; read the header, dispatch to the coder;
* :mod:`.coders`: one coder per quality mode: chunk, model, settings <-> header and sections;
* :mod:`.inr`: model blob -> RuntimeModel; chunk <-> codebook indices and the INR prediction;
* :mod:`.transform`: residual voxels <-> CDF 9/7 wavelet bands;
* :mod:`.quantize`: bands or voxel residuals -> integer symbols; rate control, base choice;
* :mod:`.entropy`: integer symbol groups <-> frequency tables and rANS words;
* :mod:`.device`: coded ratio-mode chunks -> voxels on a torch device; process pools;
* :mod:`.predict`: the max_error coder's causal prediction and adaptive range coding.

:mod:`.quality` holds the settings. Each kernel (lifting, zero blocks, quantiser, size estimate,
tables, rANS, voxel reconstruction, prediction) has one implementation, a loop in a stage's
``*_loops`` module that numba compiles; :mod:`.numba_support` hands them out, as plain Python
where numba does not run (slow: for debugging). Their NumPy references live in tests/reference.
Nothing here imports torch at import time, nor the training code in :mod:`zarr_unicompress.model`.
"""
