"""torch is optional (extra [fit]): reading, encoding with a given model and the CLI never import it."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = str(Path(__file__).resolve().parents[1])  # this checkout, so the test runs its code

WORK = """
    import sys
    import numpy as np
    import zarr
    import zarr_unicompress
    from numcodecs_ext.unicompress import UniCompress
    from zarr_unicompress.cli import main
    from zarr_unicompress.data import load_sample_crop
    from zarr_unicompress.pipeline import compress

    block = np.ascontiguousarray(load_sample_crop()[:8, :64, :64])
    for codec in (UniCompress(max_error=2), UniCompress(ratio=8)):
        back = codec.decode(codec.encode(block)).reshape(block.shape)
        assert back.shape == block.shape
    summary = compress(block, "v3.zarr", chunks=(8, 64, 64), ratio=8, progress=False)
    assert zarr.open_array("v3.zarr")[:].shape == block.shape
    np.save("vol.npy", block)
    assert main(["compress", "vol.npy", "cli.zarr", "--max-error", "1", "--chunks", "8", "64", "64", "--quiet"]) == 0
    assert main(["info", "cli.zarr"]) == 0
    assert main(["decompress", "cli.zarr", "plain.zarr"]) == 0
    assert np.abs(zarr.open_array("plain.zarr")[:].astype(int) - block).max() <= 1
"""


def _run(code: str, tmp_path: Path, block_torch: bool) -> subprocess.CompletedProcess:
    """Run WORK and then ``code`` in a fresh interpreter in ``tmp_path``."""
    paths = [ROOT]
    if block_torch:
        site = tmp_path / "no_torch"
        site.mkdir()
        (site / "sitecustomize.py").write_text("import sys\nsys.modules['torch'] = None  # import torch fails\n")
        paths.insert(0, str(site))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(paths))
    script = textwrap.dedent(WORK) + textwrap.dedent(code)
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600, env=env,
                          cwd=tmp_path)


def test_read_encode_and_cli_do_not_import_torch(tmp_path):
    proc = _run("print('torch imported:', 'torch' in sys.modules)\n", tmp_path, block_torch=False)
    assert proc.returncode == 0, proc.stderr
    assert "torch imported: False" in proc.stdout


def test_everything_but_fit_works_with_torch_unimportable(tmp_path):
    code = """
    try:
        import torch  # noqa: F401
    except ImportError:
        pass
    else:
        raise AssertionError("the test's torch block did not work")
    try:
        zarr_unicompress.fit(block)
    except zarr_unicompress.FitUnavailable as exc:
        assert isinstance(exc, ImportError) and isinstance(exc, ValueError)
        print("FIT:", exc)
    assert main(["compress", "vol.npy", "fit.zarr", "--model", "fit", "--quiet"]) == 2
    import os
    assert not os.path.exists("fit.zarr")
    """
    proc = _run(code, tmp_path, block_torch=True)
    assert proc.returncode == 0, proc.stderr
    fit_line = next(line for line in proc.stdout.splitlines() if line.startswith("FIT:"))
    assert "pip install 'zarr-unicompress[fit]'" in fit_line
    assert "--index-url https://download.pytorch.org/whl/cpu" in fit_line
    cli_errors = [line for line in proc.stderr.splitlines() if line.startswith("unicompress: error:")]
    assert len(cli_errors) == 1 and "needs torch" in cli_errors[0]
