"""`mom-bench leaderboard render|validate|rescore|import-reported|schema` (:mod:`mom_bench.leaderboard`)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from mom_bench.cli.app import UserError


@click.group("leaderboard")
def leaderboard_group():
    """Render and check the leaderboard folder (default ./leaderboard, entries in entries/<benchmark>/).

    \b
    Typical use (see docs/submitting.md):
      mom-bench submit preds.csv --meta meta.yaml --benchmark mom-mini   # add a reproduced row
      mom-bench leaderboard import-reported     # reported rows from the baselines/ recipes
      mom-bench leaderboard render              # LEADERBOARD.md, leaderboard.csv, index.html, PNG chart
      mom-bench leaderboard validate            # the CI check
    """


@leaderboard_group.command("render")
@click.option("--root", type=click.Path(path_type=Path), default=Path("leaderboard"), show_default=True,
              help="Leaderboard folder holding entries/.")
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Write the outputs here (default: --root).")
def leaderboard_render(root, out):
    """Write LEADERBOARD.md, leaderboard.csv, index.html and per_generator_f1.png from the entries.

    The same entries always give byte-identical files; index.html is static and self-contained.
    """
    from mom_bench.leaderboard.render import render

    for path in render(root, out):
        click.echo(f"wrote {path}")


@leaderboard_group.command("validate")
@click.option("--root", type=click.Path(path_type=Path), default=Path("leaderboard"), show_default=True)
@click.option("--baselines", type=click.Path(path_type=Path), default=Path("baselines"), show_default=True,
              help="Recipes the reported rows must agree with.")
@click.option("--data", "data", multiple=True, metavar="BENCHMARK=DIR",
              help="Built dataset to re-score a benchmark's stored predictions with (default: the one under "
                   "$MOM_BENCH_HOME); repeatable.")
@click.option("--no-recompute", is_flag=True, help="Skip re-scoring stored predictions.")
@click.option("--no-render-check", is_flag=True, help="Skip comparing the rendered files with the entries.")
@click.option("--require-rescore", is_flag=True,
              help="Fail, not just note, when a reproduced entry cannot be re-scored here (no matching build).")
def leaderboard_validate(root, baselines, data, no_recompute, no_render_check, require_rescore):
    """Check every entry (schemas, duplicates, hashes, re-scoring, recipes, rendering). Exit 1 on problems."""
    from mom_bench.leaderboard.validate import validate_folder

    data_dirs = {}
    for item in data:
        name, sep, folder = item.partition("=")
        if not sep:
            raise UserError(f"--data expects BENCHMARK=DIR, got {item!r}")
        data_dirs[name] = Path(folder)
    result = validate_folder(root, data_dirs=data_dirs, baselines_dir=baselines, recompute=not no_recompute,
                             check_rendered=not no_render_check, require_rescore=require_rescore)
    for note in result.notes:
        click.echo(f"note: {note}")
    for problem in result.problems:
        click.echo(f"problem: {problem}")
    click.echo(f"{result.n_entries} entries, {len(result.problems)} problem(s)")
    if result.problems:
        sys.exit(1)


@leaderboard_group.command("rescore")
@click.option("--benchmark", required=True,
              help="Whose reproduced entries to re-score: a benchmark name (`mom-bench build --list`).")
@click.option("--data", "data_dir", type=click.Path(path_type=Path), default=None,
              help="The built benchmark (verified first). Default: $MOM_BENCH_HOME/datasets/<benchmark>.")
@click.option("--root", type=click.Path(path_type=Path), default=Path("leaderboard"), show_default=True)
def leaderboard_rescore(benchmark, data_dir, root):
    """Re-score every reproduced entry of a benchmark from its stored, hash-checked predictions with this
    version's metrics (after a metrics change), all or nothing. Then run `mom-bench leaderboard render`."""
    from mom_bench.leaderboard import submit as lb

    try:
        paths = lb.rescore(benchmark, data_dir, root)
    except lb.SubmissionRejected as err:
        raise UserError(str(err)) from None
    for path in paths:
        click.echo(f"rewrote {path}")
    click.echo(f"{len(paths)} entries re-scored; next: mom-bench leaderboard render --root {root}")


@leaderboard_group.command("import-reported")
@click.option("--baselines", type=click.Path(path_type=Path), default=Path("baselines"), show_default=True)
@click.option("--root", type=click.Path(path_type=Path), default=Path("leaderboard"), show_default=True)
def leaderboard_import_reported(baselines, root):
    """Write the published numbers of the baselines/ recipes as reported entries (and drop stale ones)."""
    from mom_bench.leaderboard.reported import import_reported

    written, removed = import_reported(baselines, root)
    click.echo(f"{len(written)} reported entries written, {len(removed)} stale removed under {root}/entries")


@leaderboard_group.command("schema")
@click.argument("name", type=click.Choice(["prediction-row", "timeline-row", "submission-meta", "entry-reproduced",
                                           "matrix-document", "entry-reported", "baseline-recipe"]))
def leaderboard_schema(name):
    """Print a JSON Schema of the leaderboard's files."""
    from mom_bench.leaderboard.schema import SCHEMAS

    click.echo(json.dumps(SCHEMAS[name], indent=2))
