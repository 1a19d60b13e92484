"""`mom-bench models`: list the registry, show what a name resolves to, or check detectors against the contract
(:mod:`mom_bench.models.registry`, :mod:`mom_bench.models.check`)."""
from __future__ import annotations

import json
import sys

import click

from mom_bench.cli.app import UserError
from mom_bench.cli.output import print_rows


@click.command("models")
@click.argument("name", required=False)
@click.option("--benchmark", "-b", default=None,
              help="Resolve names as on this benchmark (e.g. mom-mini, where `clam` means clam-mini).")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@click.option("--check", is_flag=True,
              help="Validate the detector NAME (registry name, module:Class, module:function or saved detector "
                   "folder) against the detector contract, or every registry row that builds here; exit 1 if a "
                   "check fails.")
def models_cmd(name, benchmark, as_json, check):
    """List the registered detectors, or show the configuration NAME resolves to.

    \b
    Columns: parameter count (encoders included), the sample rate the model takes, the clip policy
    used at evaluation (first:90 = first 90 s; sonics_eval:120 = SONICS's deterministic 120 s window).
    `paper` rows reproduce a published model; mini rows replace them on the offline mom-mini benchmark
    (`mom-bench models clam -b mom-mini`). Aliases ending in -paper always mean the published model.

    \b
    The paper CLAM rows need MERT-v1-95M and wav2vec2-gtzan checkpoints: get them with
    `hf download m-a-p/MERT-v1-95M` and `hf download m3hrdadfi/wav2vec2-base-100k-gtzan-music-genres`,
    or point MOM_BENCH_WEIGHTS_MERT / MOM_BENCH_WEIGHTS_W2V at local copies.

    \b
    --check feeds noise, silence and a tone at the model's sample rate and prints one PASS/FAIL line per
    property: output shape [B], finite logits, determinism, batch independence, odd lengths, save/load.
    Without NAME it checks every registry row; rows whose pretrained checkpoints are absent are SKIPs.
    """
    if check:
        _check(name, benchmark, as_json)
    elif name:
        _show(name, benchmark, as_json)
    else:
        _list(as_json)


_LIST_COLUMNS = ["name", "aliases", "params", "sample_rate", "clip", "paper", "description"]
_SHOW_KEYS = ["requested", "benchmark", "name", "aliases", "params", "sample_rate", "clip", "train_clip", "paper",
              "replaces", "class", "description"]


def _list(as_json: bool) -> None:
    from mom_bench.models import registry

    rows = [registry.describe(s) for s in registry.list_models()]
    if not as_json:
        rows = [{**r, "aliases": ", ".join(r["aliases"]), "params": registry.format_params(r["params"]),
                 "paper": "yes" if r["paper"] else "no"} for r in rows]
    print_rows(rows, _LIST_COLUMNS, "json" if as_json else "table")


def _show(name: str, benchmark: str | None, as_json: bool) -> None:
    from mom_bench.models import registry

    try:
        spec = registry.resolve(name, benchmark)
    except registry.UnknownModelError as err:
        raise UserError(str(err)) from None
    row = {**registry.describe(spec), "requested": name, "benchmark": benchmark, "config": spec.full_config()}
    if as_json:
        click.echo(json.dumps(row, indent=2))
        return
    for key in _SHOW_KEYS:
        value = registry.format_params(row[key]) if key == "params" else row[key]
        click.echo(f"{key:<12} {', '.join(value) if isinstance(value, list) else value}")
    click.echo("config       " + json.dumps(row["config"], indent=2).replace("\n", "\n             "))


def _check(name: str | None, benchmark: str | None, as_json: bool) -> None:
    from mom_bench.models.check import check_detector, check_registry, resolve_target

    # Reports stream out as they finish: the 120 s rows take a while.
    reports = [check_detector(resolve_target(name, benchmark), target=name)] if name else check_registry()
    done = []
    for report in reports:
        done.append(report)
        if as_json:
            continue
        if not report.skipped:
            prefix = "" if name else "  "
            click.echo("\n".join(prefix + line for line in report.lines()))
        click.echo(report.summary())
    if as_json:
        data = [r.to_dict() for r in done]
        click.echo(json.dumps(data[0] if name else data, indent=2))
    elif not name:
        n_skipped, n_failed = sum(r.skipped for r in done), sum(not r.ok for r in done)
        click.echo(f"{'FAIL' if n_failed else 'PASS'}: {len(done) - n_skipped - n_failed} detectors passed, "
                   f"{n_failed} failed, {n_skipped} skipped")
    if not all(r.ok for r in done):
        sys.exit(1)
