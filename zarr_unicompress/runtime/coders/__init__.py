"""One coder per quality mode: a 3D chunk, the model and the settings in; the header fields and
the stream's sections out (and back: header and sections in, the chunk out).

The coders (:mod:`.registry` lists them):

* :class:`.constant.ConstantCoder`: a chunk of one value (any settings): no payload.
* :class:`.indices_only.IndicesOnlyCoder`: neither ``max_error`` nor ``ratio``: codebook
  indices only, the pure INR reconstruction.
* :class:`.predictive.PredictiveCoder` (coder id 1, v0.5 on): ``max_error=E``: closed-loop
  causal prediction with the array's codebook of linear predictors (:mod:`..predict`), the
  residual quantised with step 2E+1, so every voxel is within E.
* :class:`.max_error.MaxErrorCoder`: the ``max_error`` streams of v0.4 and earlier (indices
  plus the voxel residual quantised with step 2E+1); decode only in practice, since the
  predictive coder comes first in the registry.
* :class:`.ratio_ctx.RatioContextCoder` (coder id 3, v0.6 on): ``ratio=R`` (new streams of
  chunks of >= 2**17 voxels): the 3D coder's choices (0..3 z levels), each band's values coded
  with contexts from causal neighbours and tables from the per-array model
  (:mod:`..entropy.contexts`) or from the stream; smaller chunks go to the 3D coder.
* :class:`.ratio3d.Ratio3DCoder` (coder id 2, v0.5 on): ``ratio=R`` (v0.5 streams, small chunks): per chunk,
  0..3 levels of the wavelet along z, chosen by the step each needs for ``nbytes / R``; with 0
  levels it hands the chunk to :class:`.ratio.RatioCoder` (a coder-0 stream), with more it
  writes a coder-2 stream.
* :class:`.ratio.RatioCoder`: ``ratio=R``: a base (INR or flat) plus the residual's wavelet
  coefficients, quantised with the finest step whose stream fits ``nbytes / R`` (the 2D
  chunks of the 3D coder, and every ratio stream written before it).

The header's ``coder`` byte (:attr:`.bitstream.ChunkHeader.coder`, byte 7 of the stream)
names the coder that wrote a chunk: 0 for the four modes of v0.4 (told apart by the header's
flags, as in every stream written before the byte had a meaning), 1 for the predictive
``max_error`` coder, 2 for the 3D ratio coder, 3 for the context-coded ratio coder. A stream naming an id no
registered coder has is refused as :class:`~zarr_unicompress.errors.ChunkCorrupt`.

How to add a coder:

1. Write one module here with one class derived from :class:`.base.Coder`: set ``coder_id``
   (a new id, >= 1) and ``name``, and implement ``wants(settings)`` (whether it encodes chunks
   with these settings), ``encode(chunk, model, settings) -> (ChunkHeader, ChunkSections)``
   and ``decode(header, sections, model) -> np.ndarray`` (``open`` too where part of the
   decode can run elsewhere, as :class:`.ratio.RatioCoder`'s reconstruction on a torch device).
   Build the header with :func:`.base.chunk_header` (it sets the coder byte); check every
   field of the stream in ``decode`` and raise ``ChunkCorrupt`` for what cannot be.
2. Add one line to :data:`.registry.CODERS`, before the coders whose settings it takes over.

:mod:`..chunk_codec` reads the header, checks the model and the expected shape and dtype,
and dispatches; the CRC is checked by :func:`~zarr_unicompress.bitstream.unpack_chunk`.
"""
