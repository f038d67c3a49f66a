"""Decode-side runtime: model blob format, INR evaluation, entropy coding, chunk codec.

Nothing here imports torch or the training code in :mod:`zarr_unicompress.model`.
"""
