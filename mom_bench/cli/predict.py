"""`mom-bench predict`: P(fake) of audio files (:mod:`mom_bench.loop.prediction`)."""
from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import click

from mom_bench.cli.app import UserError
from mom_bench.cli.options import (
    HF_CLIP_HELP,
    checkpoint_option,
    device_option,
    fake_label_option,
    hf_only,
    model_option,
    num_workers_option,
    precision_option,
    shard_index_option,
)
from mom_bench.cli.output import print_rows
from mom_bench.core.errors import PredictionError
from mom_bench.core.splits import RowStatus

#: The most PNGs --plot writes in one run (one per file, in input order).
MAX_PLOTS = 50


def _ignored_note(ignored: list[Path], name: Callable[[Path], str]) -> str:
    """'N file(s) without an audio extension not scored, e.g. ...', or '' when there are none."""
    if not ignored:
        return ""
    more = ", ..." if len(ignored) > 3 else ""
    return (f"{len(ignored)} file(s) without an audio extension not scored: "
            f"{', '.join(name(p) for p in ignored[:3])}{more}")


def _output_format(fmt: str | None, out: Path | None) -> str:
    """--format, or when it is not given: table on stdout, or what --out's extension says (csv otherwise)."""
    if fmt is not None:
        if out is not None and fmt == "table":
            raise UserError("--out writes csv, jsonl or json, not a table: pick one with --format")
        return fmt
    if out is None:
        return "table"
    return {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json"}.get(out.suffix.lower(), "csv")


@click.command("predict")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@model_option
@checkpoint_option
@click.option("--benchmark", "-b", default=None, help="Benchmark the model was trained on (default: mom-mini).")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "jsonl", "json"]), default=None,
              help="csv and jsonl: each row is written as soon as its file is scored; table and json: once all "
                   "are. Default: table on stdout; with --out, from its extension (.jsonl, .json, else csv).")
@click.option("--out", "-o", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Write the rows to this file instead of stdout (csv/jsonl: a header line recording the model, "
                   "checkpoint sha256, clip, threshold, precision; each row flushed as it comes, fsynced every few "
                   "seconds).")
@click.option("--resume", is_flag=True,
              help="With --out (csv or jsonl): continue a stopped run's file, scoring only the files it has no row "
                   "for; refused if the file was made with another model, checkpoint, clip or threshold.")
@click.option("--overwrite", is_flag=True, help="Replace an existing --out file (refused otherwise).")
@click.option("--threshold", type=click.FloatRange(0, 1), default=0.5, show_default=True,
              help="P(fake) at or above which a file is called fake.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar (shown on stderr when it is a terminal).")
@device_option
@fake_label_option
@click.option("--clip", default=None, metavar="POLICY",
              help="Registry models: what of each song is scored. Default: the model's declared clip policy (e.g. "
                   "first:90 for clam: one window); all-windows: every consecutive window of the clip length, "
                   "the logits averaged; or a policy such as first:30, sonics_eval:120, full. hf: models: "
                   + HF_CLIP_HELP + " (their windows are all scored).")
@click.option("--batch-size", type=click.IntRange(1), default=8, show_default=True,
              help="Windows of one file per forward pass. Scores do not depend on it.")
@num_workers_option
@precision_option
@click.option("--num-shards", type=click.IntRange(1), default=None,
              help="Split the files into this many shards (array jobs of a cluster scheduler), with --shard-index "
                   "and --out: each shard writes OUT.part-<i>-of-<k>, then --merge writes OUT.")
@shard_index_option
@click.option("--merge", is_flag=True,
              help="Write --out from its shards' part files (one row per file, in input order) instead of scoring; "
                   "refused, naming them, if a shard is missing or incomplete. Under torchrun rank 0 merges itself.")
@click.option("--timeline", is_flag=True,
              help="P(fake) of each window over time instead of one score per file: a table per file, or with --out "
                   "F.csv / F.parquet the timeline predictions file (id,start,end,p_fake).")
@click.option("--window", type=float, default=None, metavar="S",
              help="--timeline: window length in seconds (default: the model's clip length).")
@click.option("--hop", type=float, default=None, metavar="S",
              help="--timeline: seconds between window starts (default: the window; smaller windows overlap).")
@click.option("--changepoint", is_flag=True,
              help="--timeline: make each file's timeline piecewise constant (penalised least-squares change "
                   "points on the window scores; docs/localisation.md).")
@click.option("--plot", "plot_dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help=f"--timeline: write one PNG per file (P(fake) over time) into this folder, for the first "
                   f"{MAX_PLOTS} files.")
def predict_cmd(files, model_name, checkpoint, benchmark, fmt, out, resume, overwrite, threshold, quiet, device,
                fake_label, clip, batch_size, num_workers, precision, num_shards, shard_index, merge, timeline, window,
                hop, changepoint, plot_dir):
    """P(fake) for each audio FILE (folders are searched recursively).

    A registry model scores the part of each song its clip policy declares (--clip to choose another, or
    all-windows: consecutive windows of the clip length, the file's score sigmoid(mean of the window logits));
    the choice is said in the output (stderr, the json document, an --out file's header). A file that cannot
    be read gets its error on its row and the others are still scored; the exit status is 1 if any failed.

    Every FILE given gets a row, and so does every file with an audio extension found in a folder: a FIFO,
    a dangling symlink or an unreadable file or folder gets an error row saying so. Symlinked folders are
    followed, each real folder searched once (a symlink loop gets an error row). Files of searched folders
    without an audio extension are counted on stderr, not scored. Names that are not valid UTF-8 are read
    and shown with backslash escapes (caf\\xe9.flac), so the output is always valid UTF-8.

    With --format csv or jsonl each row is written (and flushed) as soon as it and the files before it are
    scored, so a stopped run keeps its finished rows; --out F --resume then scores only the files F has no row
    for. all-windows decodes a song window by window: an hour-long file never sits in memory whole.

    A large collection can be split: --num-shards K --shard-index i (or the ranks of torchrun) each score a
    contiguous block of the input list into their own resumable part file; --merge (automatic on rank 0 under
    torchrun) then writes the one output. Scores do not depend on the shards or on --num-workers.

    \b
    Examples:
      mom-bench predict song.mp3 --model clam
      mom-bench predict songs/ --model clam --out scores.csv            # stop it any time, then:
      mom-bench predict songs/ --model clam --out scores.csv --resume
      mom-bench predict songs/ --model clam --out scores.csv --num-workers 4 --precision bf16
      mom-bench predict songs/ --model clam --out scores.csv --num-shards 8 --shard-index $SLURM_ARRAY_TASK_ID
      mom-bench predict songs/ --model clam --out scores.csv --merge   # after the array job
      torchrun --nproc-per-node 8 -m mom_bench predict songs/ --model clam --out scores.csv
      mom-bench predict songs/ --model hf:owner/name@<commit> --format jsonl
      mom-bench predict songs/ --model clam-mini --timeline --window 2 --hop 1 --out timeline.csv --plot plots/
    (an hf: model's chosen fake label is said on stderr)
    """
    from mom_bench.core.inputs import AUDIO_EXTENSIONS
    from mom_bench.loop import prediction as predict_mod

    hf_only(model_name, fake_label, None)
    hf = model_name.startswith("hf:")
    if timeline or any(v not in (None, False) for v in (window, hop, changepoint, plot_dir)):
        _timeline(files, model_name, checkpoint, benchmark, fmt, out, resume, overwrite, threshold, quiet, device,
                  fake_label, clip, batch_size, num_workers, precision, num_shards, shard_index, merge, timeline,
                  window, hop, changepoint, plot_dir)
        return
    try:
        if clip is not None and not hf:
            predict_mod.clip_choice(clip)  # before the model is loaded
    except PredictionError as err:
        raise UserError(f"--clip: {err}") from None
    fmt = _output_format(fmt, out)
    if (resume or overwrite) and out is None:
        raise UserError(f"{'--resume' if resume else '--overwrite'} applies only with --out FILE")
    if resume and overwrite:
        raise UserError("--resume and --overwrite exclude each other: continue the file or replace it")
    if resume and fmt not in ("csv", "jsonl"):
        raise UserError(f"--resume needs --format csv or jsonl (a {fmt} file is only written at the end)")
    from mom_bench.core import distributed

    launched = distributed.launched()
    sharded = merge or num_shards is not None or shard_index is not None or launched
    if sharded and (out is None or fmt not in ("csv", "jsonl")):
        raise UserError("shards and --merge need --out FILE as csv or jsonl (each shard writes FILE.part-<i>-of-<k>)")
    if merge and (shard_index is not None or launched):
        raise UserError("--merge writes the output from every shard's part file: drop --shard-index (under torchrun "
                        "rank 0 merges by itself)")
    if out is not None and out.exists() and not (resume or overwrite) and not (sharded and not merge):
        raise UserError(f"{out} exists: add --resume to continue it or --overwrite to replace it")
    found = predict_mod.find_inputs(files, AUDIO_EXTENSIONS)
    given = ", ".join(predict_mod.display_name(f) for f in files)
    if not found.inputs:
        ignored = _ignored_note(found.ignored, predict_mod.display_name)
        raise UserError(f"no audio files found in {given}" + (f" ({ignored})" if ignored else ""))
    names = [predict_mod.display_name(i.path) for i in found.inputs]
    if merge:
        from mom_bench.loop import prediction_output as streamed

        try:
            rows, bad = streamed.merge_parts(out, names, fmt, count=num_shards, overwrite=overwrite or resume)
        except PredictionError as err:
            raise UserError(str(err)) from None
        click.echo(f"merged {rows} rows into {out}: {rows - bad} ok, {bad} failed", err=True)
        if bad:
            sys.exit(1)
        return
    from mom_bench.core.runtime import Runtime

    runtime = Runtime.resolve(device, precision=precision, num_workers=num_workers, batch_size=batch_size,
                              num_shards=num_shards, shard_index=shard_index)
    try:
        rows, bad = _score(files, found, names, runtime, model_name, benchmark, checkpoint, fake_label, clip, hf,
                           fmt, out, resume, overwrite, threshold, batch_size, quiet)
    except BaseException:
        runtime.leave(wait=False)
        raise
    runtime.leave()
    if bad:
        sys.exit(1)


def _score(files, found, names, runtime, model_name, benchmark, checkpoint, fake_label, clip, hf, fmt, out, resume,
           overwrite, threshold, batch_size, quiet) -> tuple[int, int]:
    """Score this process's part of the files; (rows, failed rows) of what it wrote (the merged output on rank 0
    under torchrun)."""
    from mom_bench.core import distributed
    from mom_bench.loop import prediction as predict_mod

    part = runtime.part
    model, source = predict_mod.load_model(model_name, benchmark=benchmark, checkpoint=checkpoint,
                                           device=runtime.device, fake_label=fake_label, clip=clip if hf else None)
    policy = predict_mod.ALL_WINDOWS if hf else (clip or str(model.clip))
    scoring = dict(threshold=threshold, batch_size=batch_size, clip_policy=policy,
                   progress=False if quiet or not part.main else None, num_workers=runtime.num_workers,
                   precision=runtime.precision)
    said = f"all windows of {model.clip}" if policy == predict_mod.ALL_WINDOWS else policy
    if part.main:
        click.echo(f"clip: {said}" + (" (the model's declared policy)" if clip is None and not hf else ""), err=True)
        if found.ignored:
            click.echo(f"note: {_ignored_note(found.ignored, predict_mod.display_name)}", err=True)
        if getattr(model, "choice_note", None):  # a Hub classifier: which label was taken as fake
            click.echo(model.choice_note, err=True)
    inputs = found.inputs
    target = out
    if not part.whole:
        lo, hi = distributed.block(len(inputs), 1, part.index, part.count)
        inputs, target = inputs[lo:hi], _part_file(out, part)
        click.echo(f"{part.label()}: files {lo}..{hi - 1} of {len(names)} into {target.name} ({runtime.precision}, "
                   f"{runtime.num_workers} decode workers, device {runtime.device})", err=True)
        if target.exists() and not (resume or overwrite):
            raise UserError(f"{target} exists: add --resume to continue it or --overwrite to replace it")
    if fmt in ("csv", "jsonl"):
        rows, bad = _stream(model, source, inputs, fmt, target, said, resume=resume, overwrite=overwrite,
                            part=None if part.whole else (part.index, part.count), **scoring)
        click.echo(f"{rows} files scored by {model.name}: {rows - bad} ok, {bad} failed"
                   + (f" ({target})" if target is not None else ""), err=True)
        if part.distributed:
            from mom_bench.loop import prediction_output as streamed

            distributed.barrier()
            rows, bad = part.on_main(lambda: streamed.merge_parts(out, names, fmt, count=part.count,
                                                                  overwrite=True))
            if part.main:
                click.echo(f"merged {rows} rows into {out}: {rows - bad} ok, {bad} failed", err=True)
        elif not part.whole:
            click.echo(f"when every shard is done: mom-bench predict ... --out {out} --merge", err=True)
        return rows, bad
    rows_list = list(predict_mod.iter_scores(model, found.inputs, **scoring))
    rows, bad = len(rows_list), sum(r["status"] != RowStatus.OK for r in rows_list)
    document = {"model": model.name, "clip": said, "aggregation": predict_mod.AGGREGATION,
                "rows": rows_list}
    if out is not None:
        from mom_bench.core.files import write_json_atomic

        write_json_atomic(out, document)
    else:
        print_rows(rows_list, predict_mod.COLUMNS, fmt, document=document,
                   summary=f"{rows} files scored by {model.name}: {rows - bad} ok, {bad} failed")
    return rows, bad


def _part_file(out: Path, part) -> Path:
    from mom_bench.loop.prediction_output import part_path

    return part_path(out, part.index, part.count)


def _stream(model, source, inputs, fmt, out, said, *, resume, overwrite, part, **scoring) -> tuple[int, int]:
    """Write each row as it is scored, to stdout or to ``out``; (rows, failed rows) in the output."""
    from mom_bench.loop import prediction as predict_mod
    from mom_bench.loop import prediction_output as streamed

    if out is None:
        writer = streamed.RowWriter(sys.stdout, fmt)
        if fmt == "csv":
            click.echo(",".join(predict_mod.COLUMNS))
        for row in predict_mod.iter_scores(model, inputs, **scoring):
            writer.write(row)
        return writer.rows, writer.failed
    policy = predict_mod.clip_choice(scoring["clip_policy"])
    header = streamed.run_header(model, source, threshold=scoring["threshold"], fmt=fmt, clip=said,
                                 max_seconds=predict_mod.max_seconds_for(policy), precision=scoring["precision"],
                                 part=part)
    try:
        sink = streamed.open_output(out, header, resume=resume, overwrite=overwrite)
    except PredictionError as err:
        raise UserError(str(err)) from None
    with sink:
        if sink.done:
            click.echo(f"resuming {out}: {len(sink.done)} file(s) already scored", err=True)
        for row in predict_mod.iter_scores(model, inputs, skip=sink.done, **scoring):
            sink.writer.write(row)
        return sink.writer.rows, sink.writer.failed


def _timeline(files, model_name, checkpoint, benchmark, fmt, out, resume, overwrite, threshold, quiet, device,
              fake_label, clip, batch_size, num_workers, precision, num_shards, shard_index, merge, timeline, window,
              hop, changepoint, plot_dir) -> None:
    """``predict --timeline``: per-window P(fake) of each file, printed, written to --out, and plotted."""
    from mom_bench.core import distributed
    from mom_bench.core.inputs import AUDIO_EXTENSIONS
    from mom_bench.loop import prediction as predict_mod

    if not timeline:
        given = [o for o, v in (("--window", window), ("--hop", hop), ("--changepoint", changepoint),
                                ("--plot", plot_dir)) if v not in (None, False)]
        raise UserError(f"{', '.join(given)} appl{'ies' if len(given) == 1 else 'y'} only with --timeline")
    refused = [o for o, v in (("--resume", resume), ("--num-shards", num_shards), ("--shard-index", shard_index),
                              ("--merge", merge)) if v not in (None, False)]
    if distributed.launched():
        refused.append("torchrun")
    if refused:
        raise UserError(f"--timeline does not support {', '.join(refused)} yet: its file is written once every "
                        "file is scored; score the files in one run (--num-workers decodes ahead)")
    if clip is not None and not model_name.startswith("hf:"):
        raise UserError("--clip does not apply with --timeline: windows of --window seconds are scored (default: "
                        "the model's clip length)")
    if fmt in ("json", "jsonl"):
        raise UserError("--timeline prints a table or csv, or writes --out F.csv / F.parquet")
    fmt = fmt or ("table" if out is None else "csv")  # --out: parquet when its name ends in .parquet
    if out is not None and fmt == "table":
        raise UserError("--out writes csv or parquet, not a table")
    if out is not None and out.exists() and not overwrite:
        raise UserError(f"{out} exists: add --overwrite to replace it")
    found = predict_mod.find_inputs(files, AUDIO_EXTENSIONS)
    if not found.inputs:
        names = ", ".join(predict_mod.display_name(f) for f in files)
        ignored = _ignored_note(found.ignored, predict_mod.display_name)
        raise UserError(f"no audio files found in {names}" + (f" ({ignored})" if ignored else ""))
    from mom_bench.core.runtime import Runtime
    from mom_bench.loop import timeline as tl

    runtime = Runtime.resolve(device, precision=precision, num_workers=num_workers, batch_size=batch_size)
    try:
        model, _ = predict_mod.load_model(model_name, benchmark=benchmark, checkpoint=checkpoint,
                                          device=str(runtime.device), fake_label=fake_label,
                                          clip=clip if model_name.startswith("hf:") else None)
        grid = tl.resolve_grid(model, window, hop)
    except PredictionError as err:
        raise UserError(str(err)) from None
    label = tl.localiser_label(model.name, grid.window_s, grid.hop_s, changepoint)
    click.echo(f"timeline: {label}", err=True)
    if found.ignored:
        click.echo(f"note: {_ignored_note(found.ignored, predict_mod.display_name)}", err=True)
    if getattr(model, "choice_note", None):
        click.echo(model.choice_note, err=True)
    songs = []
    for song in tl.iter_timelines(model, tl.file_songs(found.inputs), window=window, hop=hop, batch_size=batch_size,
                                  num_workers=runtime.num_workers, precision=runtime.precision,
                                  progress=False if quiet else None):
        songs.append(tl.smoothed(song) if changepoint else song)
        if out is None and fmt == "table":
            _print_song(songs[-1], threshold)
    if out is not None:
        tl.write_timeline(out, songs)
    elif fmt == "csv":
        import csv

        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(tl.TIMELINE_COLUMNS)
        writer.writerows(tl.timeline_rows(songs))
    if plot_dir is not None:
        _plots(songs, plot_dir, threshold, label)
    bad = sum(not s.ok for s in songs)
    where = f" ({out})" if out is not None else ""
    click.echo(f"{len(songs)} files scored over time by {label}: {len(songs) - bad} ok, {bad} failed{where}",
               err=True)
    runtime.leave()
    if bad:
        sys.exit(1)


def _print_song(song, threshold: float) -> None:
    """One file's windows as a compact table: start, end, P(fake), and a bar."""
    if not song.ok:
        click.echo(f"{song.id}: error: {song.error}\n")
        return
    click.echo(f"{song.id} ({song.duration_s:.2f} s, {len(song.windows)} windows)")
    click.echo(f"  {'start':>8}  {'end':>8}  {'p_fake':>7}")
    for w in song.windows:
        mark = "#" * int(round(w.p_fake * 20))
        click.echo(f"  {w.start:8.2f}  {w.end:8.2f}  {w.p_fake:7.4f}  {'fake' if w.p_fake >= threshold else 'real'}"
                   f"  {mark}")
    click.echo("")


def _plots(songs, folder: Path, threshold: float, label: str) -> None:
    """One PNG per scored file (the first :data:`MAX_PLOTS`), named after its place in the input and its name."""
    import re

    from mom_bench.report.plots import song_timeline

    folder.mkdir(parents=True, exist_ok=True)
    drawn = [s for s in songs if s.ok][:MAX_PLOTS]
    for i, song in enumerate(drawn):
        stem = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(song.id).name)[:80] or "file"
        song_timeline(song.windows, folder / f"{i:03d}-{stem}.png", duration=song.duration_s, threshold=threshold,
                      title=f"{song.id}\n{label}")
    more = sum(s.ok for s in songs) - len(drawn)
    click.echo(f"{len(drawn)} timeline plot(s) in {folder}" + (f" ({more} more files not drawn)" if more else ""),
               err=True)
