"""`mom-bench info`: versions, device, decoder health and folders (gathered by :mod:`mom_bench.report.diagnostics`)."""
from __future__ import annotations

import json

import click


@click.command("info")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def info(as_json):
    """Versions, device, decoder health, folders and offline mode."""
    from mom_bench.report.diagnostics import collect_info

    data = collect_info()
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    width = max(len(k) for section in data.values() for k in section)
    for section, values in data.items():
        click.echo(f"{section}:")
        for key, value in values.items():
            click.echo(f"  {key:<{width}}  {value}")
