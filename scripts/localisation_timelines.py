"""Score a spliced build's test splits window by window with one trained mom-mini reference model, with and
without the change-point baseline, and write what `mom-bench submit` takes: two timeline files and their
metadata. Called by scripts/reproduce_mom_mini_localisation.sh (one model per call).

    python scripts/localisation_timelines.py --model clam-mini --splice DIR --out DIR [--plot-song ID]

Writes into --out: timeline.csv and timeline-changepoint.csv (id,start,end,p_fake), meta.json and
meta-changepoint.json (submission metadata naming the localiser), timing.json (seconds per split), and with
--plot-song a PNG of that song's truth against both timelines.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import time
from pathlib import Path

import yaml

from mom_bench import timeline_for_build, write_timeline
from mom_bench.dataset import protocols
from mom_bench.dataset.read import Build
from mom_bench.dataset.truth import song_truth
from mom_bench.leaderboard.scoring import benchmark_test_splits
from mom_bench.loop.changepoint import piecewise
from mom_bench.loop.runs import load_trained
from mom_bench.loop.timeline import REFERENCE_LOCALISERS, localiser_label
from mom_bench.models import registry
from mom_bench.report.plots import song_timeline

ROOT = Path(__file__).resolve().parent.parent


def _meta(model: str, window: float, hop: float, changepoint: bool, report: dict, command: str) -> dict:
    """The model's reference recipe metadata, renamed for the localiser (a slug of its own, so the song-level
    mom-mini row of the same model stays)."""
    recipe = yaml.safe_load((ROOT / "baselines" / f"{model}.yaml").read_text())
    meta = dict(recipe["submission_meta"])
    label = localiser_label(model, window, hop, changepoint)
    slug = f"{model}-w{window:g}-h{hop:g}{'-cp' if changepoint else ''}".replace(".", "p")
    how = ("window scores smoothed by the change-point baseline (mom_bench.loop.changepoint: least squares "
           "plus a penalty per segment, PELT)" if changepoint else "raw window scores")
    meta.update(
        model_name=label, slug=slug, registry_model=model,
        parameters=int(registry.resolve(model).parameter_count()),
        date=dt.date.today().isoformat(), benchmark_version=str(report["benchmark_version"]),
        dataset_fingerprint=str(report["fingerprint"]),
        description=(f"mom-mini reference {model}, trained on mom-mini as its baselines/ recipe says, scored on a "
                     f"spliced mom-mini build in {window:g} s windows every {hop:g} s: {how}."),
        command=command)
    return meta


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="a mom-mini reference model trained under $MOM_BENCH_HOME")
    ap.add_argument("--splice", required=True, type=Path, help="the spliced build (mom-bench build -b splice)")
    ap.add_argument("--out", required=True, type=Path, help="folder for the timelines and their metadata")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--plot-song", default=None, help="a song id of the spliced build to draw")
    args = ap.parse_args()

    grids = {(lo.window, lo.hop) for lo in REFERENCE_LOCALISERS if lo.model == args.model}
    if len(grids) != 1:
        raise SystemExit(f"error: {args.model} is not one of the reference localisers")
    (window, hop), = grids
    build = Build.open(args.splice)  # verified once here; the scoring below reopens it unverified
    report = json.loads((args.splice / "build_report.json").read_text())
    splits = benchmark_test_splits(protocols.load(str(report["benchmark"])))
    detector, checkpoint = load_trained(args.model, "mom-mini")
    args.out.mkdir(parents=True, exist_ok=True)

    raw: dict = {}
    timing: dict = {"model": args.model, "checkpoint": str(checkpoint), "window": window, "hop": hop,
                    "batch_size": args.batch_size, "splits": {}}
    for split in splits:
        t0 = time.perf_counter()
        songs = timeline_for_build(detector, build, split, window=window, hop=hop, batch_size=args.batch_size)
        n_windows = sum(len(w) for w in songs.values())
        seconds = sum(t.duration for t in song_truth(build, [split]).values())
        timing["splits"][split] = {"seconds": round(time.perf_counter() - t0, 1), "songs": len(songs),
                                   "windows": n_windows, "audio_seconds": round(seconds, 1)}
        print(f"{args.model} {split}: {len(songs)} songs, {n_windows} windows in "
              f"{timing['splits'][split]['seconds']} s", flush=True)
        raw.update(songs)
    # the change-point baseline on the same window scores (what timeline_for_build(changepoint=True) returns)
    smooth = {song_id: piecewise(windows) if windows else windows for song_id, windows in raw.items()}

    script = "scripts/reproduce_mom_mini_localisation.sh"
    for cp, timelines in ((False, raw), (True, smooth)):
        suffix = "-changepoint" if cp else ""
        write_timeline(args.out / f"timeline{suffix}.csv", timelines)
        meta = _meta(args.model, window, hop, cp, report, f"MODELS={args.model} {script}")
        (args.out / f"meta{suffix}.json").write_text(json.dumps(meta, indent=2) + "\n")
    (args.out / "timing.json").write_text(json.dumps(timing, indent=2) + "\n")

    if args.plot_song:
        truth = song_truth(build)[args.plot_song]
        for cp, timelines in ((False, raw), (True, smooth)):
            label = localiser_label(args.model, window, hop, cp)
            path = args.out / f"timeline-{args.plot_song}{'-changepoint' if cp else ''}.png"
            song_timeline(timelines[args.plot_song], path, truth=truth.segments, duration=truth.duration,
                          title=f"{label}: spliced song {args.plot_song}")
            print(f"plot: {path}")


if __name__ == "__main__":
    main()
