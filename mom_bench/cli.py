"""The `mom-bench` command line: a thin layer that parses, calls the library and prints.

Errors reach the user as one line (``error: ...``) with a non-zero exit status; ``--debug`` shows the
traceback instead.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from mom_bench import __version__


class UserError(click.ClickException):
    """A problem the user can fix (bad flag, missing file, missing checkpoint). Exit status 2."""

    exit_code = 2


class _Group(click.Group):
    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort, KeyboardInterrupt, SystemExit):
            raise
        except Exception as err:  # turn library errors into one readable line
            if ctx.obj and ctx.obj.get("debug"):
                raise
            raise UserError(f"{type(err).__name__}: {err}" if not str(err).startswith(type(err).__name__)
                            else str(err)) from err


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "--version", prog_name="mom-bench")
@click.option("--debug", is_flag=True, help="Show full tracebacks instead of one-line errors.")
@click.pass_context
def main(ctx, debug):
    """Benchmark detectors of AI-generated music.

    \b
    Typical run on the built-in offline benchmark (mom-mini):
      mom-bench build                    # build the dataset (no network needed)
      mom-bench train --model clam       # train the reference detector
      mom-bench evaluate --model clam    # per-generator F1, ID vs OOD, EER, AUC, CIs

    Data, models and results live under $MOM_BENCH_HOME (see `mom-bench info`).
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


# --------------------------------------------------------------------------------------------------
# info


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def info(as_json):
    """Versions, device, decoder health, folders and offline mode."""
    from mom_bench.diagnostics import collect_info

    data = collect_info()
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    width = max(len(k) for section in data.values() for k in section)
    for section, values in data.items():
        click.echo(f"{section}:")
        for key, value in values.items():
            click.echo(f"  {key:<{width}}  {value}")


# --------------------------------------------------------------------------------------------------
# inspect


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--sample-rate", type=int, default=None,
              help="Decode at this rate (Hz) to check resampling too. Default: each file's native rate.")
@click.option("--max-seconds", type=float, default=None, show_default="30 min",
              help="Reject files longer than this.")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
def inspect(paths, sample_rate, max_seconds, fmt):
    """Probe and fully decode audio FILES (folders are searched recursively).

    Every file gets one row: its codec, native rate, channels, duration and bit rate, or the reason it
    is unusable. The exit status is 1 if any file is unusable.
    """
    from mom_bench.diagnostics import inspect_files, iter_audio_files

    files = list(iter_audio_files(paths))
    if not files:
        raise UserError("no audio files found in " + ", ".join(map(str, paths)))
    rows = inspect_files(files, sample_rate=sample_rate, max_seconds=max_seconds, progress=fmt == "table")
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
    elif fmt == "csv":
        import csv

        writer = csv.DictWriter(sys.stdout, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    else:
        from mom_bench.diagnostics import format_table

        click.echo(format_table(rows, ["file", "status", "codec", "sample_rate", "channels", "duration_s",
                                       "bit_rate", "error"]))
        bad = sum(r["status"] != "ok" for r in rows)
        click.echo(f"\n{len(rows)} files: {len(rows) - bad} ok, {bad} unusable")
    if any(r["status"] != "ok" for r in rows):
        sys.exit(1)


if __name__ == "__main__":  # pragma: no cover
    main()
