"""Entropy decoding of many chunk streams in worker processes.

The ANS decoder (constriction) holds the GIL while it decodes, so threads do not run it in
parallel (measured: 2 threads decode a ratio-8 chunk no faster than 1). A
:class:`ChunkOpener` runs :func:`.chunk_codec.open_chunk` in a pool of processes instead, each
holding the model once; what comes back per chunk is the decoded array (indices-only,
max_error and constant streams) or the compact :class:`.chunk_codec.CodedWavelet` (block flags
and int8/int16 coefficients, a few bytes per 16 voxels plus the flagged blocks' values) whose
reconstruction :mod:`.torch_decode` does on a GPU.

Worker processes are started with "spawn" (no fork of a process that may hold a CUDA
context); scripts that use a ChunkOpener need an ``if __name__ == "__main__":`` guard.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from ..errors import UnsupportedInput
from .chunk_codec import CodedWavelet, open_chunk
from .model import RuntimeModel, load_model

_worker_model: RuntimeModel | None = None


def _load_worker_model(blob: bytes) -> None:
    global _worker_model
    _worker_model = load_model(blob)


def _open_in_worker(buf: bytes) -> np.ndarray | CodedWavelet:
    assert _worker_model is not None, "worker started without its model"
    return open_chunk(_worker_model, buf)


class ChunkOpener:
    """A pool of ``processes`` worker processes that entropy-decode streams of one model.

    Use as a context manager (or call :meth:`close`); :meth:`open` keeps the streams' order.
    """

    def __init__(self, model: RuntimeModel, processes: int) -> None:
        if not isinstance(processes, int) or processes < 1:
            raise UnsupportedInput(f"processes must be an integer >= 1, got {processes!r}")
        self.processes = processes
        self._pool = ProcessPoolExecutor(max_workers=processes, mp_context=multiprocessing.get_context("spawn"),
                                         initializer=_load_worker_model, initargs=(model.blob,))

    def open(self, buffers: Iterable[bytes]) -> Iterator[np.ndarray | CodedWavelet]:
        """Entropy-decoded chunks (see :func:`.chunk_codec.open_chunk`), in the order of
        ``buffers``, yielded as they are ready (later ones decode meanwhile). Errors of a
        stream (ChunkCorrupt, ModelMismatch) are raised when its result is reached."""
        return self._pool.map(_open_in_worker, (bytes(b) for b in buffers))

    def close(self) -> None:
        self._pool.shutdown()

    def __enter__(self) -> ChunkOpener:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
