"""`mom-bench info`: versions, device, decoder health and folders (gathered by :mod:`mom_bench.report.diagnostics`),
or what a built benchmark or fold view folder holds."""
from __future__ import annotations

import json
from pathlib import Path

import click


def _dataset(path: Path) -> dict:
    """The essentials of the build or view in ``path``, opened (and so verified) as train and evaluate open it."""
    from mom_bench.dataset.read import Build, View

    build = Build.open(path)
    data = {"dataset": {"folder": str(build.path), "benchmark": build.benchmark,
                        "version": build.benchmark_version, "fingerprint": build.fingerprint,
                        "label fingerprint": build.label_fingerprint, "audio fingerprint": build.audio_fingerprint},
            "splits": {s: ", ".join(f"{g} {n}" for g, n in (build.counts.get(s) or {}).items()) for s in build.splits}}
    if isinstance(build, View):
        fold, left = build.fold, build.left_out
        control = fold["count_control"]
        data["view"] = {"base": str(build.base.path), "base benchmark": build.base.benchmark,
                        "base fingerprint": build.base.fingerprint,
                        "fold": f"{fold['kind']} " + (f"{fold['family']} ({', '.join(fold['held_out'])})"
                                                       if fold["family"] else ", ".join(fold["held_out"])),
                        "seed": fold["seed"],
                        "count control": (f"train fakes {control['reached']} of {control['target']}"
                                          + (f", short by {control['short_by']}" if control["short_by"] else "")
                                          if control["enabled"] else "off"),
                        "groups moved": len(fold["groups_moved"]),
                        "left out": ", ".join(f"{k} {len(v)}" for k, v in left.items())}
    return data


@click.command("info")
@click.argument("data", required=False, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def info(data, as_json):
    """Versions, device, decoder health, folders and offline mode; or, given a DATA folder, what that built
    benchmark or fold view holds (opened and verified as train and evaluate open it)."""
    if data is not None:
        found = _dataset(data)
    else:
        from mom_bench.report.diagnostics import collect_info

        found = collect_info()
    if as_json:
        click.echo(json.dumps(found, indent=2))
        return
    width = max(len(k) for section in found.values() for k in section)
    for section, values in found.items():
        click.echo(f"{section}:")
        for key, value in values.items():
            click.echo(f"  {key:<{width}}  {value}")
