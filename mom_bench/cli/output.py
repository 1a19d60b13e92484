"""How the commands print rows: a fixed-width table, CSV or JSON, chosen by one `--format` option."""
from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import click

from mom_bench.core.formatting import rows_table

FORMATS = ("table", "csv", "json")

format_option = click.option("--format", "fmt", type=click.Choice(list(FORMATS)), default="table",
                             show_default=True)


def print_rows(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], fmt: str = "table", *,
               document: Any = None, summary: str | None = None) -> None:
    """Print ``rows`` as a table of ``columns`` followed by a blank line and ``summary``, as CSV of
    ``columns``, or as indented JSON of ``document`` (default: the rows themselves)."""
    if fmt == "json":
        click.echo(json.dumps(list(rows) if document is None else document, indent=2))
    elif fmt == "csv":
        import csv

        writer = csv.DictWriter(sys.stdout, fieldnames=list(columns))
        writer.writeheader()
        writer.writerows(rows)
    else:
        click.echo(rows_table(rows, columns))
        if summary is not None:
            click.echo(f"\n{summary}")
