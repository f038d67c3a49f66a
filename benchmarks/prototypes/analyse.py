"""Phase-1 analysis of scan.py outputs: RD curves per scheme and z-level rule, BD-rates vs anchors.

Usage: python benchmarks/prototypes/analyse.py SCAN.npz OTHER_SCAN.npz ANCHORS.json BLOCK
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from volume_proto import N_BUCKET, step_bucket, to_logp  # noqa: E402


def model_from(scan) -> np.ndarray:
    counts = scan["counts"]  # chunk, lz, step, bt, cl, sym
    model = np.zeros((N_BUCKET,) + counts.shape[3:], np.int64)
    for si, step in enumerate(scan["steps"]):
        model[step_bucket(float(step))] += counts[:, :, si].sum((0, 1))
    return model


def model_bits(scan, logp) -> np.ndarray:
    counts = scan["counts"]
    out = np.zeros(counts.shape[:3])
    for si, step in enumerate(scan["steps"]):
        lp = logp[step_bucket(float(step))]
        out[:, :, si] = np.einsum("clbks,bks->cl", counts[:, :, si], lp)
    return out + scan["esc"]


def curve(bits: np.ndarray, sse: np.ndarray, voxels: np.ndarray, rule: str, lzs: list[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ratio, psnr, share of chunks per lz) per step for a rule: 'lzK' or 'best'."""
    if rule == "best":
        pick = bits.argmin(1)  # chunk, step
    else:
        pick = np.full((bits.shape[0], bits.shape[2]), lzs.index(int(rule[2:])))
    c, s = np.meshgrid(np.arange(bits.shape[0]), np.arange(bits.shape[2]), indexing="ij")
    b = bits[c, pick, s].sum(0)
    e = sse[c, pick, s].sum(0)
    n = voxels.sum()
    ratio = n * 8 / b
    ps = 10 * np.log10(255.0**2 / (e / n))
    share = np.stack([(pick == k).mean(0) for k in range(bits.shape[1])])
    return ratio, ps, share


def bd_rate(ref: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray]) -> float:
    """BD-rate (%) of test vs ref, over their common PSNR range, piecewise-linear in log rate
    (rate = 1/ratio), restricted to ratios 4-64 of both."""
    def prep(r, p):
        keep = (r >= 3.5) & (r <= 70)
        o = np.argsort(p[keep])
        return p[keep][o], np.log(1.0 / r[keep][o])
    pa, la = prep(*ref)
    pb, lb = prep(*test)
    lo, hi = max(pa.min(), pb.min()), min(pa.max(), pb.max())
    if hi <= lo:
        return float("nan")
    g = np.linspace(lo, hi, 200)
    return float((np.exp(np.mean(np.interp(g, pb, lb) - np.interp(g, pa, la))) - 1) * 100)


def psnr_at(r: np.ndarray, p: np.ndarray, ratio: float) -> float:
    o = np.argsort(r)
    return float(np.interp(np.log(ratio), np.log(r[o]), p[o]))


def main(scan_path: str, other_path: str, anchors_path: str, block: str) -> None:
    scan, other = np.load(scan_path), np.load(other_path)
    anchors: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    if Path(anchors_path).exists():
        rows = [r for r in json.loads(Path(anchors_path).read_text()) if r[1] == block]
        for name in sorted({r[0] for r in rows}):
            pts = [(r[2], r[3]) for r in rows if r[0] == name]
            anchors[name] = (np.array([p[0] for p in pts]), np.array([p[1] for p in pts]))
    schemes = {"static": scan["static"], "oracle": scan["oracle"]}
    for tag, src in (("self", scan), ("cross", other)):
        m = model_from(src)
        schemes[f"model-{tag}"] = model_bits(scan, to_logp(m, True))
        schemes[f"model-{tag}-nostep"] = model_bits(scan, to_logp(m, False))
    lzs = [int(v) for v in scan["lzs"]]
    print(f"block {block}; {scan['sse'].shape[0]} chunks; anchors {list(anchors)}")
    print("| scheme | rule | PSNR@4 | @8 | @16 | @32 | @64 | " + " | ".join(f"BD vs {a}" for a in anchors) + " | lz share @16 |")
    for sname, bits in schemes.items():
        for rule in [f"lz{k}" for k in lzs] + ["best"]:
            r, p, share = curve(bits, scan["sse"], scan["voxels"], rule, lzs)
            at = [psnr_at(r, p, x) for x in (4, 8, 16, 32, 64)]
            bds = [bd_rate(anchors[a], (r, p)) for a in anchors]
            i16 = int(np.argmin(np.abs(np.log(r / 16))))
            print(f"| {sname} | {rule} | " + " | ".join(f"{v:.2f}" for v in at) + " | "
                  + " | ".join(f"{v:+.1f}%" for v in bds) + " | " + "/".join(f"{v:.2f}" for v in share[:, i16]) + " |")
    for a, (r, p) in anchors.items():
        print(f"| {a} | | " + " | ".join(f"{psnr_at(r, p, x):.2f}" for x in (4, 8, 16, 32, 64)) + " |")


if __name__ == "__main__":
    main(*sys.argv[1:5])
