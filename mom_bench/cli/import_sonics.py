"""`mom-bench import-sonics`: a released SONICS checkpoint as a detector folder (:mod:`mom_bench.models.spectttra`)."""
from __future__ import annotations

import click


@click.command("import-sonics")
@click.argument("source")
@click.argument("out", required=False, type=click.Path(file_okay=False))
@click.option("--revision", default=None, help="Hub commit or branch to pin (for a Hub id).")
def import_sonics_cmd(source, out, revision):
    """Convert a released SONICS SpecTTTra checkpoint into a mom-bench detector folder.

    \b
    SOURCE: a registry name (spectttra-alpha-120s, ... the six SONICS configs), a Hub id
    (awsaf49/sonics-spectttra-alpha-120s) or a folder with SONICS' config.json + pytorch_model.bin.
    OUT: where to write config.json + model.safetensors (default: $MOM_BENCH_HOME/runs/sonics-released/NAME).

    \b
    Keys are renamed as documented in docs/spectttra_keys.md and loaded strictly; the .bin is read with
    torch.load(weights_only=True). Offline, download first (`HF_HUB_OFFLINE=0 hf download
    awsaf49/sonics-spectttra-alpha-120s config.json pytorch_model.bin`). Then: mom-bench evaluate --model NAME
    --checkpoint OUT --benchmark sonics. Without this command, --checkpoint takes the Hub id itself
    (awsaf49/sonics-spectttra-alpha-120s@<commit>): converted the same way on first use and cached.
    """
    from mom_bench.models.spectttra import import_sonics

    model, path = import_sonics(source, out, revision=revision)
    click.echo(f"saved {model.describe()} from {model.config['weights_source']} to {path}")
    click.echo(f"evaluate with: mom-bench evaluate --model {model.name} --checkpoint {path} --benchmark sonics")
