"""``mom-bench evaluate --timeline`` (:func:`mom_bench.evaluate_timeline`): a detector scored over time on a
built benchmark, the song-level results and the localisation report in one results folder.

Each song of the evaluated splits (and of the calibration split, for the frozen thresholds) is scored window by
window (:func:`mom_bench.loop.timeline.timeline_for_build`). Its song-level score is its **highest window
P(fake)**: the song-level "contains AI" definition of the localisation metrics (``song_auc``), so
``predictions.csv``, the song-level metrics and the localisation block describe one set of scores. The folder gets
everything a plain evaluate writes, plus ``timeline.csv`` (the timeline predictions file ``submit`` accepts), the
``localisation`` block of ``results.json`` and its section in ``results.md``
(:func:`mom_bench.leaderboard.localisation.evaluate_localisation`), and ``timelines/*.png`` for a sample of songs,
written in the same atomic swap: a re-run never leaves the song-level numbers of one run beside the
localisation of another.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from mom_bench.core.errors import EvaluationError
from mom_bench.dataset import read
from mom_bench.leaderboard.localisation import evaluate_localisation
from mom_bench.loop import evaluation as E
from mom_bench.loop.timeline import localiser_label, resolve_grid, timeline_for_build, write_timeline
from mom_bench.report import metrics
from mom_bench.report import plots as plotting
from mom_bench.report.metrics import schema as results_schema

#: How a song's score comes from its windows (recorded in results.json and results.md).
SONG_SCORE = ("song score = the highest P(fake) of its windows (the song-level 'contains AI' score of the "
              "localisation metrics)")


def evaluate_timeline(model: Any, checkpoint: str | Path | None = None, data_dir: str | Path | None = None, *,
                      window: float | None = None, hop: float | None = None, changepoint: bool = False,
                      benchmark: str | None = None, splits: list[str] | tuple[str, ...] | None = None,
                      out_dir: str | Path | None = None, n_bootstrap: int = 1000, seed: int = 0,
                      threshold: float = 0.5, batch_size: int = 8, device: str | None = None, progress: bool = True,
                      plots: bool = True, log: Callable[[str], None] | None = None, fake_label: str | None = None,
                      clip: str | None = None, calibration_split: str | None = metrics.CALIBRATION_SPLIT,
                      num_workers: int = 0, precision: str = "fp32") -> E.EvalResult:
    """:func:`mom_bench.evaluate` with every song scored over time: ``window`` and ``hop`` seconds (default: the
    detector's clip length, hop = window), each song's windows made piecewise constant when ``changepoint``. The
    other options are :func:`mom_bench.evaluate`'s. Returns its :class:`~mom_bench.loop.evaluation.EvalResult`,
    whose ``results`` also hold the ``timeline`` and ``localisation`` blocks and whose ``timelines`` are the
    evaluated splits' windows (``{row id: [Window, ...]}``).

    Refused under a distributed launcher (``torchrun``): the timeline is scored in one process.
    """
    config = E.EvalConfig(benchmark=benchmark, splits=splits, out_dir=out_dir, n_bootstrap=n_bootstrap, seed=seed,
                          threshold=threshold, batch_size=batch_size, device=device, progress=progress, plots=plots,
                          log=log, fake_label=fake_label, clip=clip, calibration_split=calibration_split,
                          num_workers=num_workers, precision=precision)
    config.check()
    runtime = config.runtime()
    if runtime.part.distributed:
        raise EvaluationError("evaluate --timeline scores in one process: run it without torchrun (the window "
                              "features of a frozen-encoder detector are cached, so a second run is cheap)")
    windows: dict[str, list[Any]] = {}
    grids: list[Any] = []

    def score(detector: Any, build: read.Build, split: str, rt: Any, show: bool) -> pd.DataFrame:
        if not grids:
            grids.append(resolve_grid(detector, window, hop))  # a bad window is refused before any song is read
            config.say(f"scoring over time: {_label(detector, grids[0], changepoint)}")
        got = timeline_for_build(detector, build, split, window, hop, changepoint=changepoint,
                                 batch_size=rt.batch_size, precision=rt.precision, progress=show,
                                 num_workers=rt.num_workers)
        windows.update({f"{split}\t{k}": v for k, v in got.items()})
        ids = build.table(split, ["id"])["id"].astype(str)
        return E.split_frame(build, split, [max(w.p_fake for w in got[i]) for i in ids])

    result = E.run(model, config, checkpoint=checkpoint, data_dir=data_dir, runtime=runtime, write=False,
                   score=score)
    chosen = list(result.results["benchmark"]["splits"])
    timelines = {key.split("\t", 1)[1]: w for key, w in windows.items() if key.split("\t", 1)[0] in chosen}
    build = result.build
    assert build is not None  # run() always records the build it scored
    result.results["timeline"] = {"label": _label(result.detector, grids[0], changepoint),
                                  "window_s": grids[0].window_s, "hop_s": grids[0].hop_s,
                                  "changepoint": changepoint, "n_windows": sum(len(w) for w in timelines.values()),
                                  "song_score": SONG_SCORE, "file": E.TIMELINE_FILE}
    results_schema.check_results(result.results)
    result.timelines = timelines
    made: dict[str, Any] = {}

    def also(tmp: Path) -> list[str]:
        write_timeline(tmp / E.TIMELINE_FILE, timelines)
        made["report"] = evaluate_localisation(build, timelines, chosen, threshold=threshold, n_bootstrap=n_bootstrap,
                                               seed=seed, out_dir=tmp, plots=plots)
        return [E.TIMELINE_FILE, plotting.TIMELINES_DIR]

    E.write_results(result, also=also, say=config.say)
    result.results["localisation"] = made["report"]
    return result


def _label(detector: Any, grid: Any, changepoint: bool) -> str:
    return localiser_label(detector.name, grid.window_s, grid.hop_s, changepoint)
