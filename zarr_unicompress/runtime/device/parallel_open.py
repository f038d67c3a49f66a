"""Entropy decoding of many chunk streams in worker processes.

constriction's ANS decoder (streams before v0.4.0) holds the GIL while it decodes, so threads
did not run it in parallel (measured: 2 threads decoded a ratio-8 chunk no faster than 1); the
rANS decoder of newer streams releases it, but table parsing and checks stay Python. A
:class:`ChunkOpener` runs :func:`..opening.open_chunk` in a pool of processes, each
holding the model once; what comes back per chunk is the decoded array (indices-only,
max_error and constant streams) or the compact :class:`..coders.ratio.CodedWavelet` (a flag byte
per block of 16 coefficients, the flagged blocks' values in the narrowest integer dtype, mostly
int8) whose reconstruction :mod:`.torch_decode` does on a GPU.

Worker processes are started with "spawn" (no fork of a process that may hold a CUDA
context); scripts that use a ChunkOpener need an ``if __name__ == "__main__":`` guard.
"""

from __future__ import annotations

import functools
import multiprocessing
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor

import numpy as np

from ...errors import UnsupportedInput
from ..chunk_codec import CodedWavelet, decode_chunk, open_chunk
from ..inr.model import RuntimeModel, load_model

_worker_model: RuntimeModel | None = None

#: streams in flight per worker process at most (submitted, or decoded and not yet taken):
#: enough to keep every worker busy while the caller uses earlier results, and a bound on
#: the memory that results waiting for the caller hold.
IN_FLIGHT_PER_PROCESS = 3


def _load_worker_model(blob: bytes) -> None:
    """Worker initialiser: build the model once per worker process."""
    global _worker_model
    _worker_model = load_model(blob)


def _model_in_worker() -> RuntimeModel:
    if _worker_model is None:
        raise RuntimeError("ChunkOpener worker started without its model")
    return _worker_model


def _open_in_worker(buf: bytes) -> np.ndarray | CodedWavelet:
    """Worker task: :func:`..opening.open_chunk` of one stream with the worker's model."""
    return open_chunk(_model_in_worker(), buf)


def _decode_in_worker(buf: bytes) -> np.ndarray:
    """Worker task: :func:`.chunk_codec.decode_chunk` of one stream with the worker's model (NumPy)."""
    return decode_chunk(_model_in_worker(), buf)


class ChunkOpener:
    """A pool of ``processes`` workers that entropy-decode streams of one model (with
    ``reconstruct``, that decode them wholly, in NumPy: :func:`.chunk_codec.decode_chunk`).

    The workers are spawned processes, or with ``threads`` threads of this process: streams
    written since v0.4.0 decode their words in compiled loops that release the GIL, and a
    thread's results need no pickling back (a ratio-4 (30, 512, 512) chunk's coefficients
    are ~8 MB); streams of constriction's ANS (earlier versions) hold the GIL, so processes
    suit those. Use as a context manager (or call :meth:`close`); :meth:`open` keeps the
    streams' order.
    """

    def __init__(self, model: RuntimeModel, processes: int, reconstruct: bool = False, threads: bool = False) -> None:
        if not isinstance(processes, int) or processes < 1:
            raise UnsupportedInput(f"processes must be an integer >= 1, got {processes!r}")
        self.processes = processes
        self.reconstruct = reconstruct
        self.threads = threads
        self._pool: Executor
        if threads:
            call = decode_chunk if reconstruct else open_chunk
            self._task: Callable[[bytes], np.ndarray | CodedWavelet] = functools.partial(call, model)
            self._pool = ThreadPoolExecutor(max_workers=processes, thread_name_prefix="chunk-opener")
        else:
            self._task = _decode_in_worker if reconstruct else _open_in_worker
            self._pool = ProcessPoolExecutor(max_workers=processes, mp_context=multiprocessing.get_context("spawn"),
                                             initializer=_load_worker_model, initargs=(model.blob,))

    def open(self, buffers: Iterable[bytes | memoryview]) -> Iterator[np.ndarray | CodedWavelet]:
        """Entropy-decoded chunks (see :func:`..opening.open_chunk`; decoded arrays with
        ``reconstruct``), in the order of
        ``buffers``, yielded as they are ready. At most IN_FLIGHT_PER_PROCESS x processes
        streams are submitted ahead of the one yielded (``buffers`` is read lazily), so
        memory stays bounded however many streams there are. Errors of a stream
        (ChunkCorrupt, ModelMismatch) are raised when its result is reached; the streams
        submitted after it are then cancelled or left to finish."""
        window: deque[Future] = deque()
        streams = iter(buffers)
        limit = IN_FLIGHT_PER_PROCESS * self.processes
        try:
            while True:
                while len(window) < limit and (buf := next(streams, None)) is not None:
                    window.append(self._pool.submit(self._task, bytes(buf)))
                if not window:
                    return
                yield window.popleft().result()
        finally:
            for future in window:
                future.cancel()

    def close(self) -> None:
        """Stop the worker processes (after the streams already submitted; others are cancelled)."""
        self._pool.shutdown(cancel_futures=True)

    def __enter__(self) -> ChunkOpener:  # noqa: PYI034 (Self needs Python 3.11)
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
