"""The `mom-bench` click group and the one place errors become exit statuses (see the package docstring)."""
from __future__ import annotations

import sys
from typing import IO, Any

import click

from mom_bench.core import provenance
from mom_bench.core.errors import MomBenchError


class UserError(click.ClickException):
    """A problem the user can fix (bad flag, missing file, missing checkpoint). Exit status 2."""

    exit_code = 2

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"error: {self.format_message()}", file=file or sys.stderr, err=file is None)


class InternalError(click.ClickException):
    """Anything that is not a MomBenchError: a bug in mom-bench (or in a plugin). Exit status 1."""

    exit_code = 1

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"internal error: {self.format_message()} (run with --debug for the traceback)",
                   file=file or sys.stderr, err=file is None)


class _Group(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        from mom_bench.core import distributed

        try:
            result = self._invoke(ctx)
        except BaseException:
            distributed.shutdown(wait=False)
            raise
        distributed.shutdown()
        return result

    def _invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort, KeyboardInterrupt, SystemExit):
            raise
        except MomBenchError as err:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            raise UserError(str(err)) from err
        except Exception as err:  # a bug: one line naming it, not a traceback (unless --debug)
            if ctx.obj and ctx.obj.get("debug"):
                raise
            raise InternalError(f"{type(err).__name__}: {err}") from err


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(provenance.mom_bench_version(), "--version", prog_name="mom-bench")
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


def main_process() -> bool:
    """False on ranks other than 0 of a distributed launch: they compute their part and print nothing more."""
    from mom_bench.core import distributed

    return distributed.part().main
