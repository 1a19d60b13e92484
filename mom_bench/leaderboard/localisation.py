"""``mom_bench.evaluate_localisation``: score a timeline (P(fake) per window of each song) against the segments of a
build's songs, and write the result into a results folder.

The timeline file is read and checked as ``submit`` reads one (:mod:`.timeline_files`: bounded, every bad row named
by its line); the truth comes from the build (:func:`mom_bench.dataset.truth.song_truth`: its ``segments`` column,
or one whole-file segment per row); the metrics are those the registry declares
(:func:`mom_bench.report.metrics.localisation_report.localisation_report`).
"""
from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from mom_bench.core.errors import MetricsError
from mom_bench.core.files import sha256_file, write_atomic
from mom_bench.core.formatting import md_text, stat
from mom_bench.core.segments import Window
from mom_bench.core.splits import TEST_SPLITS
from mom_bench.dataset.read import Build
from mom_bench.dataset.truth import SongTruth, song_truth
from mom_bench.leaderboard import schema
from mom_bench.leaderboard.scoring import same_numbers
from mom_bench.leaderboard.timeline_files import (
    COLUMNS,
    DEFAULT_TIMELINE_LIMITS,
    TimelineLimits,
    check_timeline,
    load_timeline,
)
from mom_bench.report import documents
from mom_bench.report import plots as plotting
from mom_bench.report.metrics import localisation as L
from mom_bench.report.metrics import registry
from mom_bench.report.metrics.localisation_report import localisation_report
from mom_bench.report.metrics.schema import results_problems

#: The heading of the localisation section of results.md (or localisation.md).
MD_HEADING = "## Localisation"

Timeline = str | Path | pd.DataFrame | Mapping[str, Sequence[Window]]


def _splits(build: Build, split: str | Iterable[str] | None) -> list[str]:
    if split is None:
        chosen = [s for s in TEST_SPLITS if build.has(s)]
        if not chosen:
            raise MetricsError(f"{build}: no test split to score (it has {', '.join(build.splits)}); name one "
                               "with split=")
        return chosen
    chosen = [split] if isinstance(split, str) else list(split)
    absent = [s for s in chosen if not build.has(s)]
    if absent:
        raise MetricsError(f"{build}: no split {', '.join(absent)} (it has {', '.join(build.splits)})")
    return chosen


def _timelines(source: Timeline, known: set[str], limits: TimelineLimits) -> dict[str, list[Window]]:
    """``{id: windows}`` from a file (checked as submit checks it), a frame with the four columns, or a mapping."""
    if isinstance(source, Mapping):  # checked like a file's rows
        source = pd.DataFrame([(str(ident), *w) for ident, ws in source.items() for w in ws], columns=list(COLUMNS))
    if isinstance(source, pd.DataFrame):
        missing = [c for c in COLUMNS if c not in source.columns]
        if missing:
            raise MetricsError(f"the timeline frame lacks column(s) {', '.join(missing)}; need {', '.join(COLUMNS)}")
        frame = source[list(COLUMNS)].copy()
        frame["line"] = range(len(frame))
        frame["raw"] = ""
        where, pid = "timeline", "row"
    else:
        loaded, info, problems = load_timeline(source, limits)
        if loaded is None:
            raise MetricsError("; ".join(problems))
        frame, where = loaded, f"timeline {info['file']}"
        pid = "line" if info["format"] == "csv" else "row"
    for c in COLUMNS[1:]:
        frame[c] = pd.to_numeric(frame[c], errors="coerce").astype(float)
    problems = check_timeline(frame, known, where, pid, every_id=False)
    if problems:
        raise MetricsError(f"{len(problems)} problem(s): " + "; ".join(problems))
    return L.windows_of(frame[list(COLUMNS)].itertuples(index=False))


def evaluate_localisation(build_dir: str | Path | Build, timeline_predictions: Timeline,
                          split: str | Iterable[str] | None = None, *, frame_s: float = L.FRAME_S,
                          tolerance: float = L.TOLERANCE_S, threshold: float = L.THRESHOLD, n_bootstrap: int = 1000,
                          seed: int = 0, out_dir: str | Path | None = None,
                          limits: TimelineLimits = DEFAULT_TIMELINE_LIMITS,
                          plots: bool = True) -> documents.LocalisationReport:
    """The localisation report of ``timeline_predictions`` on ``split`` of a build or fold view (default: its test
    splits, pooled).

    ``timeline_predictions`` is a timeline file (CSV ``id,start,end,p_fake`` or Parquet, as ``mom-bench predict
    --timeline`` writes and ``submit`` accepts), a DataFrame with those columns, or ``{id: [Window, ...]}``. A song
    of the split without a window counts as uncovered; an id that is not a song of the split, a window with
    ``end <= start`` or a p_fake outside [0, 1] is refused (:class:`MetricsError` naming the line). With
    ``out_dir`` the report is written there: into ``results.json`` (its ``localisation`` block) and ``results.md``
    when the folder holds an evaluate run, else as ``localisation.json`` and ``localisation.md``; with ``plots``,
    the timelines of a sample of songs (:func:`plot_sample`) are drawn into its ``timelines/`` folder.

    >>> report = evaluate_localisation(build_dir, "timeline.csv")  # doctest: +SKIP
    >>> report["metrics"]["frame_auc"]["value"]  # doctest: +SKIP
    """
    build = Build.open(build_dir)
    truth = song_truth(build, _splits(build, split))
    timelines = _timelines(timeline_predictions, set(truth), limits)
    report = localisation_report(truth, timelines, frame_s=frame_s, tolerance=tolerance, threshold=threshold,
                                 n_bootstrap=n_bootstrap, seed=seed)
    if out_dir is not None:
        write_localisation(report, out_dir)
        if plots:
            draw_timelines(build, truth, timelines, Path(out_dir) / plotting.TIMELINES_DIR, threshold=threshold)
    return report


#: Songs drawn per (split, pattern) in a results folder's ``timelines/``.
PLOTS_PER_PATTERN = 2


def plot_sample(build: Build, truth: Mapping[str, SongTruth], per_pattern: int = PLOTS_PER_PATTERN
                ) -> list[tuple[str, str, str]]:
    """``(split, pattern, id)`` of the songs whose timelines a results folder shows: up to ``per_pattern`` songs of
    each pattern of each split of ``truth``, those whose ids have the smallest sha256 (so the same songs whatever
    the detector, and no song favoured by its name). The pattern is the build's ``pattern`` column (splice
    builds), else ``human`` / ``ai`` by the song's truth."""
    patterns: dict[str, str] = {}
    for split in sorted({t.split for t in truth.values()}):
        if "pattern" in build.column_names(split):
            table = build.table(split, ["id", "pattern"])
            patterns.update(zip(table["id"].astype(str), table["pattern"].astype(str)))
    groups: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for ident, t in truth.items():
        pattern = patterns.get(ident) or ("ai" if t.has_ai else "human")
        digest = hashlib.sha256(ident.encode("utf-8")).hexdigest()
        groups.setdefault((t.split, pattern), []).append((digest, ident))
    return [(split, pattern, ident) for (split, pattern), items in sorted(groups.items())
            for _, ident in sorted(items)[:per_pattern]]


def _file_name(ident: str) -> str:
    """A PNG name for a song: its id made safe for any file system, and a hash of the id so two ids made alike
    never share a file."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", ident).strip("._")[:100]
    return f"{safe}-{hashlib.sha256(ident.encode('utf-8')).hexdigest()[:8]}.png"


def draw_timelines(build: Build, truth: Mapping[str, SongTruth], timelines: Mapping[str, Sequence[Window]],
                   folder: Path, *, threshold: float = L.THRESHOLD) -> list[Path]:
    """Draw the :func:`plot_sample` songs' timelines (truth shaded, P(fake) of each window) into ``folder``,
    replacing the PNGs a previous run drew there."""
    from mom_bench.report.plots import song_timeline

    if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
        raise MetricsError(f"{folder}: not a folder of its own (a symlink or a file); timeline plots go there")
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):
        if old.is_file() and not old.is_symlink():
            old.unlink()
    out = []
    for split, pattern, ident in plot_sample(build, truth):
        t = truth[ident]
        out.append(song_timeline(list(timelines.get(ident, ())), folder / _file_name(ident),
                                 truth=t.segments, duration=t.duration, threshold=threshold,
                                 title=f"{ident} ({split}, {pattern})"))
    return out


def markdown_section(report: documents.LocalisationReport) -> list[str]:
    """The localisation section of results.md: one table of the registered metrics with their intervals."""
    lines = [MD_HEADING, "",
             f"{report['n_songs']} songs ({report['n_songs_with_ai']} with AI, {report['n_songs_mixed']} mixed), "
             f"{report['n_windows']} windows; frames of {report['frame_s']:g} s, boundary tolerance "
             f"{report['tolerance_s']:g} s, threshold {report['threshold']:g}; time covered by windows "
             f"{stat(report['coverage'])}. Brackets: 95 % bootstrap intervals over songs "
             f"({report['n_bootstrap']} resamples, seed {report['seed']}).", "",
             "| metric | value [95% CI] |", "|---|---|"]
    for m in registry.localisation_metrics():
        block = report["metrics"].get(m.key)
        if block is None:
            continue
        value = stat(block, m.digits) if block.get("value") is not None else f"n/a ({block.get('reason', '')})"
        arrow = "lower is better" if not m.higher_is_better else "higher is better"
        lines.append(f"| {md_text(m.header)} ({arrow}) | {value} |")  # our own numbers: nothing to escape
    lines += [""] + [f"- **{k}**: {md_text(v)}" for k, v in report["definitions"].items()] + [""]
    return lines


def _replace_section(text: str, section: list[str]) -> str:
    """``text`` (a Markdown file) with its localisation section replaced by ``section`` (or added at the end)."""
    lines = text.splitlines()
    if MD_HEADING in lines:
        start = lines.index(MD_HEADING)
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        lines = lines[:start] + lines[end:]
    while lines and not lines[-1].strip():
        lines.pop()
    return "\n".join(lines + ([""] if lines else []) + section)


def write_localisation(report: documents.LocalisationReport, out_dir: str | Path) -> list[Path]:
    """Write ``report`` into ``out_dir`` (see :func:`evaluate_localisation`); returns the files written."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    results = out / "results.json"
    if results.is_file() and not results.is_symlink():
        doc: dict[str, Any] = json.loads(results.read_text(encoding="utf-8"))
        doc["localisation"] = report
        problems = results_problems(doc)
        if problems:
            raise MetricsError(f"{results}: with the localisation block it breaks its schema: "
                               + "; ".join(problems[:5]))
        md = out / "results.md"
        old = md.read_text(encoding="utf-8") if md.is_file() and not md.is_symlink() else ""
        return [write_atomic(results, json.dumps(doc, indent=2, ensure_ascii=False) + "\n"),
                write_atomic(md, _replace_section(old, markdown_section(report)))]
    return [write_atomic(out / "localisation.json", json.dumps(report, indent=2, ensure_ascii=False) + "\n"),
            write_atomic(out / "localisation.md", "\n".join(markdown_section(report)))]


def stored_timeline_name(slug: str) -> str:
    """The file beside an entry holding its checked timeline."""
    return f"{slug}{schema.TIMELINE_SUFFIX}"


def localisation_block(windows: pd.DataFrame, labels: pd.DataFrame, data_dir: Path | str, *, n_bootstrap: int,
                       seed: int) -> dict[str, Any]:
    """The localisation metrics of a checked timeline over the songs of ``labels`` (the scored test rows), against
    the build's segments: an entry's ``localisation`` numbers (the stored and hash fields are the caller's)."""
    splits = sorted(labels["split"].unique().tolist())
    scored = set(labels["id"])
    truth = {k: v for k, v in song_truth(data_dir, splits).items() if k in scored}
    timelines = L.windows_of(windows[["id", "start", "end", "p_fake"]].itertuples(index=False))
    report = localisation_report(truth, timelines, n_bootstrap=n_bootstrap, seed=seed)
    keep = ("n_windows", "n_songs", "n_songs_with_ai", "n_songs_mixed", "n_songs_without_windows", "seconds",
            "frame_s", "tolerance_s", "threshold", "n_bootstrap", "seed")
    block: dict[str, Any] = {k: report[k] for k in keep}  # type: ignore[literal-required]
    block["coverage"] = {"value": report["coverage"]["value"], "ci": report["coverage"]["ci"]}
    block["metrics"] = {k: {"value": v["value"], "ci": v["ci"]} for k, v in report["metrics"].items()}
    return json.loads(json.dumps(block))  # plain JSON types, as the entry stores them


def rescored_localisation(entry_path: Path, entry: dict[str, Any], labels: pd.DataFrame,
                          data_dir: str | Path) -> list[str]:
    """What differs when an entry's localisation is scored again from its stored timeline (hash-checked) against
    the build at ``data_dir``: an empty list when every number is the same."""
    claim = entry["localisation"]
    stored = claim.get("stored")
    if not stored:
        return [f"{entry_path}: its localisation has no stored timeline, so it cannot be re-scored"]
    path = entry_path.with_name(stored)
    if path.is_symlink() or not path.is_file():
        return [f"{path}: the stored timeline is missing (or a symlink)"]
    digest = sha256_file(path)
    if digest != claim.get("stored_sha256"):
        return [f"{path}: sha256 {digest[:12]}... is not the one the entry recorded"]
    frame, _, problems = load_timeline(path)
    if frame is None:
        return [f"{entry_path}: {p}" for p in problems]
    problems = check_timeline(frame, set(labels["id"]), str(path))
    if problems:
        return problems
    fresh = localisation_block(frame, labels, data_dir, n_bootstrap=claim["n_bootstrap"], seed=claim["seed"])
    kept = {k: v for k, v in claim.items() if k in fresh}
    if not same_numbers(fresh, kept):
        differing = sorted(k for k in fresh if not same_numbers(fresh[k], kept.get(k)))
        return [f"{entry_path}: re-scoring the stored timeline gives a different localisation ({', '.join(differing)})"]
    return []
