"""The encoder writes exactly the streams it wrote when tests/data/stream_digests.json was made.

A failure means the stream format or the encoder's choices changed: if that was meant,
regenerate the file with ``python -m tests.make_stream_digests`` and say so in the commit.
"""

from __future__ import annotations

import json

from tests.make_stream_digests import DIGESTS, stream_digests


def test_streams_are_byte_identical(default_model):
    stored = json.loads(DIGESTS.read_text())
    assert stored["model"] == default_model.digest, "the default model changed: regenerate the digests"
    got = stream_digests(default_model)
    assert got.keys() == stored["streams"].keys()
    changed = sorted(k for k, v in got.items() if v != stored["streams"][k])
    assert not changed, f"{len(changed)} of {len(got)} streams changed: {changed}"
