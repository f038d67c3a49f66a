"""Device stage: entropy-decoded ratio-mode chunks in, voxels reconstructed with torch (a GPU, or
the CPU) out; and pools of processes that open chunk streams in parallel.

Modules: :mod:`.torch_decode` (batched reconstruction), :mod:`.cdf97_torch` (the inverse
lifting in torch), :mod:`.parallel_open` (:class:`.parallel_open.ChunkOpener`),
:mod:`.decode_device` (where :func:`..chunk_codec.decode_chunk` reconstructs),
:mod:`.torch_devices` (device names checked). torch is imported only where a device is used.
"""
