"""Train mom-mini's three neural decoders once and write their shipped weights.

    .venv/bin/python scripts/train_mom_mini_decoders.py                    # all three
    .venv/bin/python scripts/train_mom_mini_decoders.py --family rvq_codec --steps 50 --out /tmp/w

Trains ``rvq_codec``, ``latent_vae`` and ``mel_vocoder`` (``mom_bench.dataset.mini.decoders``) in float32 on
random 1-s crops of the mom-mini *training-split real* excerpts only, each crop brought to the level the
decoders work at. Loss: multi-resolution STFT loss (spectral convergence + log-magnitude L1, four
resolutions; Yamamoto et al., "Parallel WaveGAN", 2020) plus a small waveform L1; the codec adds its
commitment loss (its codebooks follow exponential moving averages with dead-entry restarts; van den Oord
et al., "Neural Discrete Representation Learning", 2017; Zeghidour et al., "SoundStream", 2021), the VAE a
small KL term. No adversarial loss: the decoders only need to sound like a rough re-synthesis with their
family's artefacts.

Deterministic for ``--seed`` on a given machine and thread count. Writes, atomically, per family
``<out>/<family>.safetensors`` (float32 weights, config and a digest of the tensors in its metadata) and
``<out>/<family>.json`` (how it was trained). Afterwards it re-synthesises a few validation-split excerpts
with the written file, in float64 on one thread as the build does, and prints their multi-resolution
STFT loss, level and the time per 3-s clip.
"""
from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mom_bench.dataset.mini import decoders  # noqa: E402

RATE = decoders.RATE
#: Steps per family: what fits in about six minutes on two CPU cores (measured: see the README next to
#: the weights).
STEPS = {"rvq_codec": 1600, "latent_vae": 1300, "mel_vocoder": 1200}
RESOLUTIONS = ((2048, 512), (1024, 256), (512, 128), (256, 64))
L1_WEIGHT = 0.5
COMMIT_WEIGHT = 0.25
KL_WEIGHT = 1e-3
EMA_DECAY = 0.95
#: An entry whose moving-average use falls under this many vectors per batch is restarted.
DEAD_BELOW = 0.25


def mrstft_loss(y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Mean over resolutions of spectral convergence + log-magnitude L1; ``y``, ``x`` (B, T)."""
    total = y.new_zeros(())
    for n_fft, hop in RESOLUTIONS:
        w = torch.hann_window(n_fft, dtype=x.dtype)
        sy = torch.stft(y, n_fft, hop, window=w, return_complex=True).abs().clamp_min(1e-7)
        sx = torch.stft(x, n_fft, hop, window=w, return_complex=True).abs().clamp_min(1e-7)
        sc = (sy - sx).pow(2).sum((-2, -1)).sqrt() / sx.pow(2).sum((-2, -1)).sqrt().clamp_min(1e-7)
        total = total + sc.mean() + (sy.log() - sx.log()).abs().mean()
    return total / len(RESOLUTIONS)


# --------------------------------------------------------------------------------------------------
# data


def excerpt_sets():
    """(training excerpts, validation excerpts): the excerpts of those splits' tracks in the mom-mini plan, each
    once (a plan row is a clip, and an excerpt gives several)."""
    from mom_bench.dataset import protocols
    from mom_bench.dataset.sources.mom_mini import MomMiniSource

    p = protocols.load("mom-mini")
    plans = MomMiniSource(p, dict(p.source)).plan()

    def of(split):
        chosen = {pl.excerpt.file: pl.excerpt for pl in plans if pl.split == split and pl.generator is None}
        return list(chosen.values())

    return of("train"), of("validation")


def list_digest(items) -> str:
    """sha256 over the training excerpts' names and contents, in name order."""
    h = hashlib.sha256()
    for e in sorted(items, key=lambda e: e.file):
        h.update(e.file.encode() + b"\0" + hashlib.sha256(e.path.read_bytes()).digest())
    return h.hexdigest()


def load_audio(items) -> list[torch.Tensor]:
    from mom_bench.dataset.mini.excerpts import load_excerpt

    return [torch.from_numpy(np.asarray(load_excerpt(e, RATE), dtype=np.float32)) for e in items]


def level(x: torch.Tensor) -> torch.Tensor:
    """Bring each row to the decoders' working RMS."""
    return x * (decoders.LEVEL / x.pow(2).mean(-1, keepdim=True).sqrt().clamp_min(1e-4))


def batch_of(data: list[torch.Tensor], n: int, crop: int, gen: torch.Generator) -> torch.Tensor:
    out = []
    while len(out) < n:
        c = data[int(torch.randint(len(data), (1,), generator=gen))]
        start = int(torch.randint(max(1, c.numel() - crop), (1,), generator=gen))
        piece = F.pad(c[start:start + crop], (0, max(0, crop - c[start:start + crop].numel())))
        if piece.pow(2).mean().sqrt() > 1e-3:  # a silent crop teaches nothing once levelled
            out.append(piece)
    return level(torch.stack(out))


# --------------------------------------------------------------------------------------------------
# the codec's codebooks


class CodebookEMA:
    """Exponential-moving-average codebook updates with restarts of entries that fall out of use."""

    def __init__(self, vq: decoders.ResidualVQ, gen: torch.Generator):
        self.vq, self.gen = vq, gen
        n_q, size, dim = vq.codebooks.shape
        self.count = torch.ones(n_q, size)
        self.sums = vq.codebooks.detach().clone()

    def init_from(self, z: torch.Tensor) -> None:
        """k-means++-free initialisation: each codebook from random residual vectors of a first batch."""
        r = z.detach().permute(0, 2, 1).reshape(-1, z.shape[1])
        for i in range(self.vq.codebooks.shape[0]):
            pick = torch.randperm(r.shape[0], generator=self.gen)[:self.vq.codebooks.shape[1]]
            self.vq.codebooks[i] = r[pick]
            self.sums[i] = r[pick]
            r = r - self.vq.codebooks[i][self.vq.nearest(r, i)]

    @torch.no_grad()
    def update(self, residuals: list[torch.Tensor], codes: list[torch.Tensor]) -> None:
        size = self.vq.codebooks.shape[1]
        for i, (r, idx) in enumerate(zip(residuals, codes)):
            onehot = F.one_hot(idx, size).to(r.dtype)  # (N, K)
            self.count[i].mul_(EMA_DECAY).add_(onehot.sum(0), alpha=1 - EMA_DECAY)
            self.sums[i].mul_(EMA_DECAY).add_(onehot.T @ r, alpha=1 - EMA_DECAY)
            n = self.count[i].sum()
            smoothed = (self.count[i] + 1e-5) / (n + size * 1e-5) * n  # Laplace smoothing
            self.vq.codebooks[i] = self.sums[i] / smoothed[:, None]
            dead = self.count[i] < DEAD_BELOW
            if dead.any():  # restart unused entries on vectors this batch actually produced
                pick = torch.randint(r.shape[0], (int(dead.sum()),), generator=self.gen)
                self.vq.codebooks[i][dead] = r[pick]
                self.sums[i][dead] = r[pick]
                self.count[i][dead] = 1.0


# --------------------------------------------------------------------------------------------------


def train(name: str, data: list[torch.Tensor], *, steps: int, seed: int, batch: int, crop: int, lr: float,
          log_every: int) -> tuple[torch.nn.Module, dict]:
    torch.manual_seed(seed)
    net = decoders.build(name)
    gen = torch.Generator().manual_seed(seed)
    noise = torch.Generator().manual_seed(seed + 1)
    opt = torch.optim.Adam(net.parameters(), lr=lr, betas=(0.9, 0.99))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / 50) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * s / max(1, steps)))))
    ema = CodebookEMA(net.quantizer, gen) if name == "rvq_codec" else None
    net.train()
    history: list[float] = []
    start = time.perf_counter()
    for step in range(steps):
        if ema is not None and step == 0:  # enough vectors for every codebook entry: a larger first batch
            with torch.no_grad():
                ema.init_from(net.encoder(batch_of(data, 16, crop, gen)[:, None, :]))
        x = batch_of(data, batch, crop, gen)
        if name == "rvq_codec":
            y, aux = net(x)
            extra = COMMIT_WEIGHT * aux["commit"]
        elif name == "latent_vae":
            y, aux = net(x, noise)
            extra = KL_WEIGHT * aux["kl"]
        else:
            y, aux = net(x)
            extra = y.new_zeros(())
        recon = mrstft_loss(y, x) + L1_WEIGHT * (y - x).abs().mean()
        loss = recon + extra
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 5.0)
        opt.step()
        sched.step()
        if ema is not None:
            ema.update(aux["residuals"], aux["codes"])
        history.append(recon.item())
        if ema is not None:
            used = [int(c.unique().numel()) for c in aux["codes"]]
        if (step + 1) % log_every == 0 or step + 1 == steps:
            took = time.perf_counter() - start
            print(f"{name}: step {step + 1}/{steps} recon {np.mean(history[-log_every:]):.4f} "
                  f"extra {extra.item():.4f}{f' codes used {used}' if ema is not None else ''} "
                  f"({(step + 1) / took:.2f} steps/s, {took:.0f} s)", flush=True)
    net.eval()
    stats = {"seconds": round(time.perf_counter() - start, 1),
             "final_loss": round(float(np.mean(history[-50:])), 5)}
    return net, stats


def validate(name: str, path: Path, clips: list[np.ndarray]) -> dict:
    """Re-synthesise ``clips`` through the written file as the build does (float64, one thread)."""
    net = decoders.load(name, path)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        losses, ratios, noise_losses, times = [], [], [], []
        for i, x in enumerate(clips):
            t = time.perf_counter()
            y = decoders.resynthesise(net, x, seed=i)
            times.append(time.perf_counter() - t)
            xt, yt = level(torch.from_numpy(x)[None]), level(torch.from_numpy(y)[None])
            losses.append(float(mrstft_loss(yt, xt)))
            ratios.append(float(np.sqrt(np.mean(y ** 2)) / np.sqrt(np.mean(x ** 2))))
            white = level(torch.randn(1, x.size, generator=torch.Generator().manual_seed(i), dtype=torch.float64))
            noise_losses.append(float(mrstft_loss(white, xt)))
    finally:
        torch.set_num_threads(threads)
    return {"val_mrstft": round(float(np.mean(losses)), 4),
            "val_white_noise_mrstft": round(float(np.mean(noise_losses)), 4),
            "val_rms_ratio": round(float(np.mean(ratios)), 3), "val_clips": len(clips),
            "seconds_per_3s_clip_float64_1thread": round(float(np.median(times)), 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", choices=list(decoders.NETWORKS), action="append",
                        help="train only this one (repeatable; default all three)")
    parser.add_argument("--steps", type=int, help="training steps (default: per family, see STEPS)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--crop", type=int, default=RATE, help="crop length in samples (default 1 s)")
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads for training")
    parser.add_argument("--out", type=Path, default=decoders.WEIGHTS_DIR)
    parser.add_argument("--log-every", type=int, default=50)
    parser.add_argument("--val-clips", type=int, default=6, help="3-s validation clips to check (0: none)")
    args = parser.parse_args()

    from mom_bench.core.files import write_atomic

    torch.set_num_threads(args.threads)
    train_items, val_items = excerpt_sets()
    if not train_items:
        raise SystemExit("no training-split real excerpts in the mom-mini plan")
    digest = list_digest(train_items)
    print(f"{len(train_items)} training excerpts (sha256 {digest[:16]}...), {len(val_items)} validation", flush=True)
    data = load_audio(train_items)
    val = [x.numpy().astype(np.float64)[RATE:4 * RATE] for x in load_audio(val_items[:args.val_clips])]
    for name in args.family or list(decoders.NETWORKS):
        steps = args.steps if args.steps is not None else STEPS[name]
        net, stats = train(name, data, steps=steps, seed=args.seed, batch=args.batch, crop=args.crop, lr=args.lr,
                           log_every=args.log_every)
        path = args.out / f"{name}.safetensors"
        decoders.save(net, name, path)
        params = sum(t.numel() for t in net.state_dict().values())
        record = {"family": name, "config": decoders.CONFIGS[name], "parameters": params,
                  "steps": steps, "seed": args.seed, "batch": args.batch, "crop_samples": args.crop, "lr": args.lr,
                  "threads": args.threads, **stats, "training_clips": len(train_items),
                  "training_excerpts_sha256": digest, "sample_rate": RATE,
                  "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                  "torch": torch.__version__}
        if val:
            record.update(validate(name, path, val))
        write_atomic(path.with_suffix(".json"), json.dumps(record, indent=2) + "\n")
        print(json.dumps(record), flush=True)


if __name__ == "__main__":
    main()
