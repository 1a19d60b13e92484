"""PNG figures of an evaluation: per-generator F1 with confidence intervals, ROC and DET curves, score
histograms of reals versus fakes, a reliability diagram (the equal-mass bins of the ECE), and one song's P(fake)
over time against its AI segments (localisation). Drawn with matplotlib's Agg backend (no display needed); curves
come from :mod:`mom_bench.report.metrics` so figures and numbers never disagree."""
from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from statistics import NormalDist
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from mom_bench.core.segments import Segment, Window
from mom_bench.core.splits import TEST_OOD, RowStatus
from mom_bench.report import documents, metrics

if TYPE_CHECKING:  # matplotlib is imported on first use (_plt)
    from matplotlib.figure import Figure

#: The folder of a results folder holding the per-song timeline plots (truth vs P(fake) over time).
TIMELINES_DIR = "timelines"
PLOTS = ("per_generator_f1.png", "roc.png", "det.png", "score_hist.png", "reliability.png")


def _plt() -> ModuleType:  # matplotlib.pyplot, imported on first use
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def per_generator_f1(report: documents.Report, path: Path, title: str = "") -> Path:
    plt = _plt()
    rows = metrics.per_generator_rows(report)
    fig, ax = plt.subplots(figsize=(7, 0.45 * max(3, len(rows)) + 1.2))
    labels = [f"{r['generator']} ({r['split']})" for r in rows]
    values = [r["f1"] if r["f1"] is not None else np.nan for r in rows]
    lo = [v - r["f1_ci"][0] if r["f1_ci"] else 0 for v, r in zip(values, rows)]
    hi = [r["f1_ci"][1] - v if r["f1_ci"] else 0 for v, r in zip(values, rows)]
    colors = ["tab:orange" if r["split"] == TEST_OOD else "tab:blue" for r in rows]
    y = np.arange(len(rows))
    ax.barh(y, values, xerr=[lo, hi], color=colors, capsize=3)
    ax.set_yticks(y, labels)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("F1 on {fakes of the generator} U {all reals of the split}, 95 % CI")
    ax.set_title(title or "Per-generator F1")
    ax.grid(axis="x", alpha=0.3)
    return _save(fig, path)


def _finish_curve(fig: Figure, ax: Any, path: Path, xlabel: str, ylabel: str, title: str, legend: str) -> Path:
    """Label, title, legend and grid of one split-per-line curve plot (ROC, DET), then save it."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(loc=legend)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def roc(predictions: pd.DataFrame, report: documents.Report, path: Path, title: str = "") -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5, 5))
    for split, rows in _splits_with_both(predictions):
        fpr, tpr, _ = metrics.roc_points(rows["label"], rows["score"])
        auc = report["splits"][split]["overall"]["auc"]["value"]
        ax.plot(fpr, tpr, label=f"{split} (AUC {auc:.3f})")
    ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--")
    return _finish_curve(fig, ax, path, "false-positive rate (reals called fake)",
                         "true-positive rate (fakes called fake)", title or "ROC", "lower right")


def det(predictions: pd.DataFrame, report: documents.Report, path: Path, title: str = "") -> Path:
    """DET curve on normal-deviate axes (the speaker-verification convention), EER marked."""
    plt = _plt()
    nd = NormalDist()

    def clip(p: npt.ArrayLike | None) -> np.ndarray:  # None (an undefined EER) becomes NaN
        clipped: np.ndarray = np.clip(np.asarray(p, dtype=float), 1e-4, 1 - 1e-4)
        return clipped

    inv_cdf = np.vectorize(nd.inv_cdf)

    def probit(p: np.ndarray) -> np.ndarray:
        deviates: np.ndarray = inv_cdf(p)  # np.vectorize's call is untyped
        return deviates
    fig, ax = plt.subplots(figsize=(5, 5))
    for split, rows in _splits_with_both(predictions):
        fpr, fnr = metrics.det_points(rows["label"], rows["score"])
        e = report["splits"][split]["overall"]["eer"]["value"]
        ax.plot(probit(clip(fpr)), probit(clip(fnr)), label=f"{split} (EER {e:.3f})")
        ax.plot([probit(clip(e))], [probit(clip(e))], "o", color=ax.lines[-1].get_color())
    ticks = np.array([0.001, 0.01, 0.05, 0.2, 0.5, 0.8, 0.95])
    ax.set_xticks(probit(ticks), [f"{t:g}" for t in ticks])
    ax.set_yticks(probit(ticks), [f"{t:g}" for t in ticks])
    lim = probit(clip([0.0005, 0.9995]))
    ax.set_xlim(*lim)
    ax.set_ylim(*lim)
    return _finish_curve(fig, ax, path, "false-positive rate", "false-negative rate", title or "DET", "upper right")


def score_hist(predictions: pd.DataFrame, path: Path, threshold: float = 0.5, title: str = "") -> Path:
    plt = _plt()
    splits = list(dict.fromkeys(predictions["split"]))
    fig, axes = plt.subplots(1, len(splits), figsize=(4.5 * len(splits), 3.5), squeeze=False)
    bins = np.linspace(0, 1, 26)
    for ax, split in zip(axes[0], splits):
        rows = predictions[predictions["split"] == split]
        for label, name, color in ((0, "real", "tab:green"), (1, "fake", "tab:red")):
            scores = rows.loc[rows["label"] == label, "score"]
            if len(scores):
                ax.hist(scores, bins=bins, alpha=0.6, color=color, label=f"{name} ({len(scores)})")
        ax.axvline(threshold, color="black", lw=0.8, ls="--")
        ax.set_title(split)
        ax.set_xlabel("P(fake)")
        ax.legend()
    axes[0][0].set_ylabel("songs")
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def reliability(predictions: pd.DataFrame, report: documents.Report, path: Path, title: str = "") -> Path:
    """Mean label against mean score in each equal-mass bin of :func:`mom_bench.report.metrics.reliability_bins`,
    one line per split, the ECE of the report in the legend; on the diagonal a detector is calibrated."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5, 5))
    for split, rows in predictions.groupby("split", sort=False):
        bins = metrics.reliability_bins(rows["label"], rows["score"])
        split_report = report["splits"].get(str(split))
        calibration = split_report.get("calibration") if split_report else None  # absent from older reports
        ece = calibration["ece"]["value"] if calibration else None
        label = f"{split} (ECE {ece:.3f})" if ece is not None else str(split)
        ax.plot([b[1] for b in bins], [b[2] for b in bins], "o-", ms=4, label=label)
    ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel(f"mean P(fake) in the bin ({metrics.ECE_BINS} bins of equal count)")
    ax.set_ylabel("share of fakes in the bin")
    ax.set_title(title or "Reliability")
    ax.legend(loc="upper left")
    ax.grid(alpha=0.3)
    return _save(fig, path)


def draw_all(predictions: pd.DataFrame, report: documents.Report, folder: Path, title: str = "") -> list[Path]:
    folder = Path(folder)
    return [per_generator_f1(report, folder / PLOTS[0], title), roc(predictions, report, folder / PLOTS[1], title),
            det(predictions, report, folder / PLOTS[2], title),
            score_hist(predictions, folder / PLOTS[3], report.get("threshold", 0.5), title),
            reliability(predictions, report, folder / PLOTS[4], title)]


def _splits_with_both(predictions: pd.DataFrame) -> Iterator[tuple[Any, pd.DataFrame]]:  # (split value, its rows)
    for split, rows in predictions.groupby("split", sort=False):
        if rows["label"].nunique() == 2:
            yield split, rows


def _save(fig: Figure, path: Path) -> Path:
    path = Path(path)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    _plt().close(fig)
    return path


# --------------------------------------------------------------------------------------------------
# Robustness figures (mom_bench.loop.robustness writes them from its robustness.json document)


def robustness_heatmap(document: Mapping[str, Any], path: Path) -> Path:  # robustness.json, as loaded
    """Transform x column heatmap: delta TPR of each generator's fakes, then delta FPR on each test split's
    reals (a rise in FPR is shown as a loss too: its sign is flipped so red always means worse)."""
    plt = _plt()
    done = [e for e in document["transforms"] if e["status"] == RowStatus.OK]
    gens = [(s, g) for s, st in document["clean"].items() for g in st["per_generator"]]
    columns = [f"{g}\n(TPR)" for _, g in gens] + [f"reals {s}\n(-FPR)" for s in document["clean"]]
    grid = np.full((max(1, len(done)), len(columns)), np.nan)
    for i, e in enumerate(done):
        for j, (s, g) in enumerate(gens):
            m = e["splits"].get(s, {}).get("per_generator", {}).get(g)
            if m and m.get("delta_tpr") is not None:
                grid[i, j] = m["delta_tpr"]
        for k, s in enumerate(document["clean"]):
            d = e["splits"].get(s, {}).get("delta", {}).get("fpr")
            if d is not None:
                grid[i, len(gens) + k] = -d
    fig, ax = plt.subplots(figsize=(1.1 * len(columns) + 2.5, 0.32 * len(grid) + 1.8))
    image = ax.imshow(grid, cmap="RdBu", vmin=-1, vmax=1, aspect="auto")
    ax.set_xticks(np.arange(len(columns)), columns, fontsize=7)
    ax.set_yticks(np.arange(len(done)), [e["name"] for e in done], fontsize=7)
    for (i, j), v in np.ndenumerate(grid):
        if np.isfinite(v):
            shown = round(float(v), 2) + 0.0  # + 0.0 turns a rounded -0.0 into 0.0, so no "-0.00" cells
            ax.text(j, i, f"{shown:+.2f}", ha="center", va="center", fontsize=6,
                    color="white" if abs(v) > 0.6 else "black")
    fig.colorbar(image, ax=ax, label="change against clean (red: worse)")
    ax.set_title(f"{document['model']} on {document['benchmark']['name']}: robustness "
                 f"({document['suite']['name']})", fontsize=9)
    return _save(fig, path)


def codec_lines(document: Mapping[str, Any], path: Path) -> Path:  # robustness.json, as loaded
    """TPR on fakes (solid) and FPR on reals (dashed) of each codec over its bit rates, pooled over the test
    splits (item-weighted), with the clean values as horizontal lines."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4))

    def pooled(stats: Mapping[str, Any], key: str, weight: str) -> float:
        pairs = [(st[key]["value"], st[weight]) for st in stats.values() if st[key]["value"] is not None]
        total = sum(w for _, w in pairs)
        return sum(v * w for v, w in pairs) / total if total else float("nan")

    ax.axhline(pooled(document["clean"], "tpr", "n_fake"), color="grey", lw=1, label="clean TPR")
    ax.axhline(pooled(document["clean"], "fpr", "n_real"), color="grey", lw=1, ls="--", label="clean FPR")
    codecs: dict[str, list[Any]] = {}  # codec format -> its transform entries of robustness.json
    for e in document["transforms"]:
        if e["status"] == RowStatus.OK and e["kind"] == "codec":
            codecs.setdefault(e["params"]["format"], []).append(e)
    for fmt, items in sorted(codecs.items()):
        items.sort(key=lambda e: e["params"]["bit_rate"])
        rates = [e["params"]["bit_rate"] / 1000 for e in items]
        line, = ax.plot(rates, [pooled(e["splits"], "tpr", "n_fake") for e in items], marker="o", label=f"{fmt} TPR")
        ax.plot(rates, [pooled(e["splits"], "fpr", "n_real") for e in items], marker="x", ls="--",
                color=line.get_color(), label=f"{fmt} FPR")
    ax.set_xscale("log")
    ax.set_xlabel("bit rate (kb/s)")
    ax.set_ylabel("rate at the threshold")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize=7, ncol=2)
    ax.set_title(f"{document['model']}: codec round trips", fontsize=9)
    return _save(fig, path)


# --------------------------------------------------------------------------------------------------
# Localisation: one song's timeline


def song_timeline(windows: Sequence[Window], path: Path, *, truth: Sequence[Segment] | None = None,
                  duration: float | None = None, threshold: float = 0.5, title: str = "") -> Path:
    """One song's predicted P(fake) over time against the truth: the AI segments of ``truth`` shaded, each scored
    window drawn as a horizontal bar over the time it covers (overlapping windows overlap), the step line through
    their centres, and the decision threshold dashed."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 2.8))
    end = max([float(duration or 0.0)] + [float(w.end) for w in windows] + [float(s.end) for s in truth or ()])
    for i, seg in enumerate(s for s in truth or () if s.label == 1):
        ax.axvspan(seg.start, seg.end, color="tab:red", alpha=0.18, lw=0,
                   label="AI-made (truth)" if i == 0 else None)
    if windows:
        ordered = sorted(windows, key=lambda w: (w.start, w.end))
        ax.hlines([w.p_fake for w in ordered], [w.start for w in ordered], [w.end for w in ordered],
                  color="tab:blue", lw=2.5, alpha=0.6, label="P(fake) of a window")
        centres = [(w.start + w.end) / 2 for w in ordered]
        ax.step(centres, [w.p_fake for w in ordered], where="mid", color="tab:blue", lw=0.8)
    ax.axhline(threshold, color="grey", ls="--", lw=0.8, label=f"threshold {threshold:g}")
    ax.set_xlim(0, end if end > 0 else 1)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("P(fake)")
    ax.set_title(title or "P(fake) over time")
    ax.legend(loc="upper right", fontsize="small", framealpha=0.8)
    ax.grid(alpha=0.3)
    return _save(fig, path)
