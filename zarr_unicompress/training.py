"""Fit the shared model of an array: train (or fine-tune) a teacher, distil a student.

The student is what the codec stores. Training follows the paper: the teacher learns the
codebook and its SIREN from wavelet and raw priors with reconstruction + VQ loss (Eq. 8);
the student, with about half the parameters and a raw-only trainable encoder, is distilled
with codebook MSE alignment (Eq. 9), KL divergence with temperature between codeword logits
(Eq. 10) and output alignment to the teacher and to the data (Eq. 11).

Deviation from the paper, for CPU-sized runs: Adam with a cosine schedule at a learning rate
of 2e-3 for a few thousand steps instead of AdamW at 1e-5 for 800 epochs, and small MLP
encoders trained from scratch instead of frozen pre-trained ResNet-50 extractors.
"""

from __future__ import annotations

import itertools
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .errors import FIT_INSTALL_HINT, FitUnavailable, UnsupportedInput
from .fitting.predictors import fit_predictors_on_chunks
from .fitting.ratio_tables import fit_ratio_tables

try:
    import torch
    from torch.nn import functional as F
except ImportError as exc:  # torch is the optional extra [fit]; readers and encoders need none
    raise FitUnavailable(f"{FIT_INSTALL_HINT} ({exc})") from exc
from .model.export import student_to_blob, teacher_from_blob, teacher_to_blob
from .model.networks import StudentConfig, StudentNet, TeacherConfig, TeacherNet
from .model.priors import TokenPriors, token_priors
from .runtime.inr.tokens import local_coordinates
from .runtime.inr.weights import blob_digest
from .runtime.predict.binding import META_KEY as PREDICTORS_KEY
from .runtime.predict.binding import encode_meta
from .runtime.entropy.context_tables import META_KEY as RATIO_TABLES_KEY
from .runtime.entropy.context_tables import encode_meta as encode_ratio_tables
from .runtime.inr.model import build_runtime_model


@dataclass(frozen=True)
class FitSettings:
    """Training hyper-parameters. Steps are optimiser steps of ``batch_tokens`` tokens each.

    The defaults are the recipe of the shipped EM model (about 280 s on 2 CPU cores); on a GPU,
    larger ``batch_tokens`` cost little more time per step.
    """

    teacher_steps: int = 2000
    student_steps: int = 2000
    batch_tokens: int = 256
    learning_rate: float = 2e-3
    vq_weight: float = 0.25
    code_weight: float = 1.0
    kl_weight: float = 0.5
    output_weight: float = 1.0
    temperature: float = 2.0
    distill: bool = True
    max_sample_chunks: int = 64
    max_tokens: int = 262144
    dead_code_every: int = 100
    seed: int = 0
    device: str | None = None
    #: torch CPU threads while fitting; None: the cores this process may run on less the busy
    #: ones (see :func:`fit_threads`). torch's own default counts the machine's cores, not the
    #: affinity mask, a CPU quota or the load, and so oversubscribes a process restricted to fewer
    #: (taskset, a batch slot, a container, a shared machine); see benchmarks/RESULTS.md.
    threads: int | None = None


@dataclass
class FittedModel:
    """Result of :func:`fit`: the student blob the codec stores, plus the teacher for later fits."""

    blob: bytes = field(repr=False)
    teacher_blob: bytes = field(repr=False)
    history: dict[str, list[float]] = field(default_factory=dict, repr=False)

    @property
    def digest(self) -> str:
        return blob_digest(self.blob)


def fit(
    volume: Any,
    chunks: tuple[int, int, int] = (64, 512, 512),
    *,
    teacher: Any = None,
    teacher_config: TeacherConfig | None = None,
    student_config: StudentConfig | None = None,
    settings: FitSettings | None = None,
    progress: bool = True,
    **overrides: Any,
) -> FittedModel:
    """Fit one model for an array.

    Args:
        volume: 3D array-like (numpy, zarr, dask) of an integer dtype, (z, y, x) voxels.
        chunks: the array's chunk shape in voxels; training samples whole chunks of it.
        teacher: None to train a teacher from scratch, "default" to start from the shipped
            EM teacher (cross-domain distillation), or a teacher blob / :class:`FittedModel`.
        teacher_config, student_config: architectures (defaults work for EM).
        settings: :class:`FitSettings`; keyword ``overrides`` replace single fields.
        progress: show tqdm progress bars.
    """
    settings = _settings(settings, overrides)
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(max(1, int(settings.threads or fit_threads())))
    try:
        return _fit(volume, chunks, teacher, teacher_config, student_config, settings, progress)
    finally:
        torch.set_num_threads(previous_threads)


def fit_threads() -> int:
    """torch threads for a fit: the :func:`usable_cores` less those other processes keep busy
    (the 1-minute load average, rounded down), at least 1. Oversubscribed torch threads wait on
    each other: 200 + 200 steps took 398 s with 1 thread and 1523 s with 2 on 2 cores at load 13
    (benchmarks/RESULTS.md)."""
    cores = usable_cores()
    try:
        busy = int(os.getloadavg()[0])
    except (AttributeError, OSError):  # no load average on this platform
        busy = 0
    return max(1, min(cores, cores - busy))


def usable_cores() -> int:
    """CPU cores this process may use: its affinity mask (``os.sched_getaffinity``), capped by a
    cgroup v2 CPU quota (``/sys/fs/cgroup/cpu.max``) when one is set; at least 1."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        cores = os.cpu_count() or 1
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            cores = min(cores, math.ceil(int(quota) / int(period)))
    except (OSError, ValueError):
        pass
    return max(1, cores)


def _fit(volume: Any, chunks: tuple[int, int, int], teacher: Any, teacher_config: TeacherConfig | None,
         student_config: StudentConfig | None, settings: FitSettings, progress: bool) -> FittedModel:
    """:func:`fit` with its settings resolved and torch's thread count set."""
    rng = np.random.default_rng(settings.seed)
    torch.manual_seed(settings.seed)
    device = torch.device(settings.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    teacher_net = _initial_teacher(teacher, teacher_config)
    cfg = teacher_net.config
    student_cfg = student_config or StudentConfig.for_teacher(cfg)
    if (student_cfg.token_shape, student_cfg.codebook_size, student_cfg.code_dim) != (
            cfg.token_shape, cfg.codebook_size, cfg.code_dim):
        raise UnsupportedInput("student token_shape, codebook_size and code_dim must equal the teacher's")
    priors = sample_priors(volume, chunks, cfg.token_shape, settings, rng)
    data = {k: torch.from_numpy(getattr(priors, k)).to(device) for k in ("raw", "low", "high")}
    coords = torch.from_numpy(local_coordinates(cfg.token_shape).astype(np.float32)).to(device)
    history: dict[str, list[float]] = {}
    teacher_net.to(device)
    if teacher is None:
        _init_codebook(teacher_net.quantizer, teacher_net.features(
            *(data[k][: 4 * cfg.codebook_size] for k in ("raw", "low", "high"))).detach())
    history["teacher_mse"] = _train_teacher(teacher_net, data, coords, settings, rng, progress)
    student = StudentNet(student_cfg).to(device)
    with torch.no_grad():
        student.quantizer.codebook.copy_(teacher_net.quantizer.codebook)
    history["student_mse"] = _train_student(student, teacher_net, data, coords, settings, rng, progress)
    teacher_net.cpu().eval()
    student.cpu().eval()
    meta: dict[str, object] = {"trained_tokens": len(priors), "distilled": settings.distill}
    predictors = fit_predictors_on_chunks(volume, chunks, min(16, settings.max_sample_chunks), settings.seed)
    if predictors is not None:  # the max_error coder's codebook of linear predictors (else the default)
        meta[PREDICTORS_KEY] = encode_meta(predictors)
    # the ratio mode's context tables, fitted on the chunks as this student codes them (else the default)
    tables = fit_ratio_tables(volume, chunks, build_runtime_model(student_to_blob(student, meta)),
                              min(8, settings.max_sample_chunks), settings.seed)
    if tables is not None:
        meta[RATIO_TABLES_KEY] = encode_ratio_tables(tables)
    return FittedModel(student_to_blob(student, meta), teacher_to_blob(teacher_net, meta), history)


def sample_priors(volume: Any, chunks: tuple[int, int, int], token_shape: tuple[int, int, int],
                  settings: FitSettings, rng: np.random.Generator) -> TokenPriors:
    """Read up to ``max_sample_chunks`` random chunks and return the priors of up to ``max_tokens`` tokens."""
    shape = tuple(int(s) for s in getattr(volume, "shape", ()))
    if len(shape) != 3:
        raise UnsupportedInput(f"fit needs a 3D volume (z, y, x); got shape {shape}")
    if not np.issubdtype(np.dtype(volume.dtype), np.integer):
        raise UnsupportedInput(f"fit needs an integer volume; got dtype {volume.dtype}")
    if len(chunks) != 3 or min(chunks) < 1:
        raise UnsupportedInput(f"chunks must be three positive integers, got {chunks}")
    grid = [range(0, s, c) for s, c in zip(shape, chunks)]
    origins = list(itertools.product(*grid))
    rng.shuffle(origins)
    origins = origins[: settings.max_sample_chunks]
    per_chunk = max(1, settings.max_tokens // len(origins))
    parts = []
    for origin in origins:
        sl = tuple(slice(o, min(o + c, s)) for o, c, s in zip(origin, chunks, shape))
        block = np.asarray(volume[sl])
        if block.min() == block.max():
            continue
        p = token_priors(block, token_shape)
        if len(p) > per_chunk:
            keep = rng.choice(len(p), per_chunk, replace=False)
            p = TokenPriors(p.raw[keep], p.low[keep], p.high[keep])
        parts.append(p)
    if not parts:
        raise UnsupportedInput("every sampled chunk is constant; there is nothing to fit")
    return TokenPriors.concat(parts)


def _settings(settings: FitSettings | None, overrides: dict[str, Any]) -> FitSettings:
    base = settings or FitSettings()
    unknown = set(overrides) - set(FitSettings.__dataclass_fields__)
    if unknown:
        raise TypeError(f"unknown fit settings {sorted(unknown)}")
    return FitSettings(**{**base.__dict__, **overrides})


def _initial_teacher(teacher: Any, config: TeacherConfig | None) -> TeacherNet:
    if teacher is None:
        return TeacherNet(config or TeacherConfig())
    if isinstance(teacher, TeacherNet):
        return teacher
    if isinstance(teacher, str) and teacher == "default":
        from .default_model import default_teacher_blob

        return teacher_from_blob(default_teacher_blob())
    blob = getattr(teacher, "teacher_blob", teacher)
    if not isinstance(blob, (bytes, bytearray)):
        raise UnsupportedInput("teacher must be None, 'default', a teacher blob or a FittedModel")
    return teacher_from_blob(bytes(blob))


def _init_codebook(quantizer: torch.nn.Module, features: torch.Tensor) -> None:
    """Initialise the codebook with random encoder outputs (avoids dead codewords at start)."""
    with torch.no_grad():
        pick = torch.randperm(len(features), device=features.device)[: quantizer.codebook.shape[0]]
        n = len(pick)
        quantizer.codebook[:n] = features[pick]


def _batches(n: int, batch: int, steps: int, rng: np.random.Generator):
    for _ in range(steps):
        yield torch.from_numpy(rng.integers(0, n, size=min(batch, n)))


def _optimiser(module: torch.nn.Module, settings: FitSettings, steps: int):
    opt = torch.optim.Adam(module.parameters(), lr=settings.learning_rate)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(s, steps) / max(steps, 1))))
    return opt, sched


def _progress(steps: int, desc: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=steps, desc=desc, disable=not enabled, leave=False)


class _StageLoop:
    """Bookkeeping of one training stage: optimiser and schedule, codeword usage with the
    reset of unused codewords every ``dead_code_every`` steps, losses and the progress bar."""

    def __init__(self, module: torch.nn.Module, quantizer: Any, codebook_size: int, steps: int, desc: str,
                 settings: FitSettings, device: torch.device, progress: bool) -> None:
        self.opt, self.sched = _optimiser(module, settings, steps)
        self.quantizer = quantizer
        self.every = settings.dead_code_every
        self.usage = torch.zeros(codebook_size, device=device)
        self.losses: list[float] = []
        self.bar = _progress(steps, desc, progress)

    def step(self, step: int, loss: torch.Tensor, mse: torch.Tensor, indices: torch.Tensor,
             features: Callable[[], torch.Tensor]) -> None:
        """One optimiser step on ``loss``; ``features()`` gives the encoder outputs (n, code_dim)
        that re-seed unused codewords when a reset is due."""
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        self.sched.step()
        self.usage += torch.bincount(indices, minlength=len(self.usage))
        if self.every and (step + 1) % self.every == 0:
            self.quantizer.reset_codewords(self.usage == 0, features())
            self.usage.zero_()
        self.losses.append(float(mse.detach()))
        self.bar.update(1)
        self.bar.set_postfix(psnr=f"{-10 * math.log10(max(self.losses[-1], 1e-12)):.2f}dB")

    def close(self) -> list[float]:
        """Close the progress bar; return the reconstruction MSE of every step."""
        self.bar.close()
        return self.losses


def _train_teacher(net: TeacherNet, data: dict[str, torch.Tensor], coords: torch.Tensor,
                   settings: FitSettings, rng: np.random.Generator, progress: bool) -> list[float]:
    net.train()
    loop = _StageLoop(net, net.quantizer, net.config.codebook_size, settings.teacher_steps, "teacher", settings,
                      coords.device, progress)
    for step, idx in enumerate(_batches(len(data["raw"]), settings.batch_tokens, settings.teacher_steps, rng)):
        idx = idx.to(coords.device)
        raw, low, high = data["raw"][idx], data["low"][idx], data["high"][idx]
        out = net(raw, low, high, coords)
        mse = F.mse_loss(out.recon, raw)
        loop.step(step, mse + settings.vq_weight * out.vq_loss, mse, out.indices,
                  lambda: net.features(raw, low, high).detach())
    return loop.close()


def _train_student(student: StudentNet, teacher: TeacherNet, data: dict[str, torch.Tensor],
                   coords: torch.Tensor, settings: FitSettings, rng: np.random.Generator,
                   progress: bool) -> list[float]:
    teacher.eval()
    student.train()
    loop = _StageLoop(student, student.quantizer, student.config.codebook_size, settings.student_steps, "student",
                      settings, coords.device, progress)
    tau = settings.temperature
    for step, idx in enumerate(_batches(len(data["raw"]), settings.batch_tokens, settings.student_steps, rng)):
        idx = idx.to(coords.device)
        raw = data["raw"][idx]
        out = student(raw, coords)
        mse = F.mse_loss(out.recon, raw)
        if settings.distill:
            with torch.no_grad():
                ref = teacher(raw, data["low"][idx], data["high"][idx], coords)
            code_loss = F.mse_loss(out.codes, ref.codes)
            kl = F.kl_div(F.log_softmax(out.logits / tau, 1), F.log_softmax(ref.logits / tau, 1),
                          log_target=True, reduction="batchmean") * tau * tau
            output_loss = F.mse_loss(out.recon, ref.recon) + mse
            loss = (settings.code_weight * code_loss + settings.kl_weight * kl
                    + settings.output_weight * output_loss + settings.vq_weight * out.vq_loss)
        else:
            loss = mse + settings.vq_weight * out.vq_loss
        loop.step(step, loss, mse, out.indices, lambda: student.encoder(raw).detach())
    return loop.close()
