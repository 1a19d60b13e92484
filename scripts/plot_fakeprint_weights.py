"""Plot the learned weights of a trained ``fakeprint`` detector over frequency (docs/models.md#fakeprint).

The head of ``fakeprint`` is a logistic regression with one weight per frequency bin of the fakeprint
features. A weight > 0 means a peak at that frequency pushes towards "fake". Vertical lines mark multiples of
``sample_rate / k`` for the upsampling factors ``k`` given (``--strides``, default 2 4 8 32): a transposed
convolution of stride ``s`` whose output is upsampled ``u`` times more before the end leaves peaks at multiples
of ``sample_rate / (s * u)``. mom-mini's decoders, counted from their output end: ``rvq_codec`` 2 8 40 320,
``latent_vae`` 2 8 64 512, ``mel_vocoder`` 4 32 256 (``mom_bench.dataset.mini.decoders.CONFIGS``).
With ``--data DIR``, a second panel shows the mean fakeprint of each generator of a split (``--split``, default
train) of that built benchmark, read through the feature cache the trainer filled, so it costs nothing after
training.

    python scripts/plot_fakeprint_weights.py RUN/best --data $MOM_BENCH_HOME/datasets/mom-mini \
        --out docs/fakeprint-weights-mom-mini.png
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
import mom_bench  # noqa: E402


def generator_means(model, data_dir: Path, split: str) -> dict:
    """Mean fakeprint ``[F]`` (numpy) of each generator of ``split``, reals first."""
    import numpy as np
    import torch

    from mom_bench.loop.inference import extract_features

    feats, meta = extract_features(model, Path(data_dir), split, torch.device("cpu"), 8, progress=False)
    x = feats["fakeprint"].numpy()
    gens = np.array([m["generator"] for m in meta])
    order = sorted(set(gens), key=lambda g: (g != "real", g))
    return {g: x[gens == g].mean(axis=0) for g in order}


def plot(checkpoint: str, out: Path, strides: list[int], title: str | None = None, data: Path | None = None,
         split: str = "train") -> Path:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    from mom_bench.models.fakeprint import Fakeprint

    model = mom_bench.load_detector(checkpoint)
    if not isinstance(model, Fakeprint):
        raise SystemExit(f"{checkpoint} holds a {model.name} detector, not a fakeprint one")
    freqs = model.frequencies().numpy()
    weights = model.weights().numpy()
    sr = model.sample_rate
    means = generator_means(model, data, split) if data is not None else {}
    fig, axes = plt.subplots(2 if means else 1, 1, figsize=(11, 4 + 0.9 * len(means)), sharex=True,
                             squeeze=False, height_ratios=[4, 0.9 * len(means)] if means else None)
    styles = ["tab:red", "tab:orange", "tab:green", "tab:purple", "tab:brown"]
    for ax in axes[:, 0]:
        for i, k in enumerate(sorted(set(strides))):
            step = sr / k
            lines = [m * step for m in range(1, int(freqs[-1] // step) + 1) if m * step >= freqs[0]]
            for j, f in enumerate(lines):
                ax.axvline(f, color=styles[i % len(styles)], lw=0.8, alpha=0.6 if k <= 4 else 0.3,
                           label=f"multiples of sr/{k} = {step:g} Hz" if j == 0 else None, zorder=0)
    ax = axes[0, 0]
    ax.plot(freqs, weights, color="black", lw=0.6, zorder=2)
    ax.set_xlim(freqs[0], freqs[-1])
    ax.set_ylabel("logistic-regression weight")
    ax.set_title(title or f"{model.name}: learned weights ({len(weights)} bins, {model.bin_hz:.2f} Hz apart, "
                          f"sr {sr} Hz)")
    ax.legend(loc="upper right", fontsize=8)
    if means:
        ax = axes[1, 0]
        spacing = 8.0
        for i, (gen, mean) in enumerate(means.items()):
            offset = -spacing * i
            ax.plot(freqs, mean + offset, lw=0.5, zorder=2)
            ax.text(freqs[0] + 30, offset + 2.5, gen, fontsize=8, va="bottom")
        ax.set_yticks([])
        ax.set_ylabel(f"mean fakeprint ({split})")
    axes[-1, 0].set_xlabel("frequency (Hz)")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", help="a saved fakeprint detector (a run's best/ folder, or a Hub id)")
    parser.add_argument("--out", type=Path, default=Path("fakeprint-weights.png"))
    parser.add_argument("--strides", type=int, nargs="+", default=[2, 4, 8, 32])
    parser.add_argument("--title")
    parser.add_argument("--data", type=Path, help="a built benchmark: add the mean fakeprint of each generator")
    parser.add_argument("--split", default="train", help="split of --data to average (default: train)")
    args = parser.parse_args(argv)
    print(plot(args.checkpoint, args.out, args.strides, args.title, args.data, args.split))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
