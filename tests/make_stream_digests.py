"""Regenerate tests/data/stream_digests.json: the sha256 of a fixed set of streams.

Run ``PYTHONPATH=$PWD python -m tests.make_stream_digests`` from the repository root after a
deliberate change of the stream format or of the encoder's choices (and say so in the commit);
:mod:`tests.test_stream_digests` checks that the encoder still writes exactly these streams.
The inputs are deterministic and need no real data: the EM-like stand-in volume of
:func:`tests.common.em_like_stand_in`, seeded noise and a constant chunk, coded with the
default model in every quality mode.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from zarr_unicompress.runtime.chunk_codec import QualitySettings, encode_chunk
from zarr_unicompress.runtime.inr.model import RuntimeModel

DIGESTS = Path(__file__).parent / "data" / "stream_digests.json"

#: quality modes by name: indices only, max_error 0 and 2, ratio 4, 16 and 64.
QUALITIES: dict[str, QualitySettings] = {
    "indices": QualitySettings(),
    "max_error=0": QualitySettings(max_error=0),
    "max_error=2": QualitySettings(max_error=2),
    "ratio=4": QualitySettings(ratio=4.0),
    "ratio=16": QualitySettings(ratio=16.0),
    "ratio=64": QualitySettings(ratio=64.0),
}


def inputs() -> dict[str, np.ndarray]:
    """The chunks by name: several shapes (edge shapes, 1D and 2D included) and dtypes."""
    from tests.common import em_like_stand_in

    vol = em_like_stand_in((16, 96, 96), seed=3)
    rng = np.random.default_rng(7)
    return {
        "em_u8_8x64x64": np.ascontiguousarray(vol[:8, :64, :64]),
        "em_u8_16x96x96": vol,
        "em_u8_edge_5x37x23": np.ascontiguousarray(vol[3:8, 10:47, 20:43]),
        "em_u8_1x1x17": np.ascontiguousarray(vol[0, 0, :17]),
        "em_u8_2d_40x50": np.ascontiguousarray(vol[5, :40, :50]),
        "em_u16_8x64x64": (vol[8:16, 32:96, 32:96].astype(np.uint16) * 257),
        "em_i16_6x33x40": (vol[:6, :33, :40].astype(np.int16) * 100 - 12000),
        "noise_u8_4x32x32": rng.integers(0, 256, (4, 32, 32), dtype=np.uint8),
        "noise_u16_3x20x31": rng.integers(0, 4096, (3, 20, 31), dtype=np.uint16),
        "constant_u8_4x16x16": np.full((4, 16, 16), 77, np.uint8),
        "constant_u16_2x8x8": np.full((2, 8, 8), 4000, np.uint16),
    }


def stream_digests(model: RuntimeModel) -> dict[str, str]:
    """sha256 (hex) of each input coded in each quality mode, keyed "input/quality"."""
    out = {}
    for name, chunk in inputs().items():
        for qname, quality in QUALITIES.items():
            out[f"{name}/{qname}"] = hashlib.sha256(encode_chunk(model, chunk, quality)).hexdigest()
    return out


def main() -> None:
    from numcodecs_ext.unicompress import model_blob
    from zarr_unicompress.runtime.inr.model import load_model

    model = load_model(model_blob(None))
    digests = stream_digests(model)
    DIGESTS.parent.mkdir(exist_ok=True)
    DIGESTS.write_text(json.dumps({"model": model.digest, "streams": digests}, indent=1, sort_keys=True) + "\n")
    print(f"wrote {len(digests)} digests to {DIGESTS}")


if __name__ == "__main__":
    main()
