"""`mom-bench inspect`: probe and decode audio files, one row each (:mod:`mom_bench.report.diagnostics`)."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from mom_bench.cli.app import UserError
from mom_bench.cli.output import format_option, print_rows
from mom_bench.core.splits import RowStatus


@click.command("inspect")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--sample-rate", type=int, default=None,
              help="Decode at this rate (Hz) to check resampling too. Default: each file's native rate.")
@click.option("--max-seconds", type=float, default=None, show_default="30 min",
              help="Reject files longer than this.")
@format_option
def inspect(paths, sample_rate, max_seconds, fmt):
    """Probe and fully decode audio FILES (folders are searched recursively).

    Every file gets one row: its codec, native rate, channels, duration and bit rate, or the reason it
    is unusable. The exit status is 1 if any file is unusable.
    """
    from mom_bench.core.inputs import find_inputs
    from mom_bench.report.diagnostics import COLUMNS, inspect_files

    files = find_inputs(paths).inputs
    if not files:
        raise UserError("no audio files found in " + ", ".join(map(str, paths)))
    rows = inspect_files(files, sample_rate=sample_rate, max_seconds=max_seconds, progress=fmt == "table")
    bad = sum(r["status"] != RowStatus.OK for r in rows)
    print_rows(rows, COLUMNS, fmt, summary=f"{len(rows)} files: {len(rows) - bad} ok, {bad} unusable")
    if bad:
        sys.exit(1)
