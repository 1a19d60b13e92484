"""`mom-bench submit`: validate, score and add predictions to the leaderboard (:mod:`mom_bench.leaderboard.submit`)."""
from __future__ import annotations

import json
from pathlib import Path

import click

from mom_bench.cli.app import UserError


@click.command("submit")
@click.argument("predictions", type=click.Path(path_type=Path))
@click.option("--meta", required=True, type=click.Path(path_type=Path),
              help="Metadata YAML/JSON (model name, authors, contact, licence, training declaration...; see "
                   "docs/submitting.md). A baselines/ recipe works too: its submission_meta section is used.")
@click.option("--benchmark", default=None,
              help="A benchmark name (`mom-bench build --list`). Needed unless PREDICTIONS is a `mom-bench evaluate` "
                   "results folder.")
@click.option("--data", "data_dir", type=click.Path(path_type=Path), default=None,
              help="The built benchmark holding the labels. Default: $MOM_BENCH_HOME/datasets/<benchmark>.")
@click.option("--root", type=click.Path(path_type=Path), default=Path("leaderboard"), show_default=True,
              help="Leaderboard folder; the entry goes to <root>/entries/<benchmark>/<slug>.json.")
@click.option("--replace", is_flag=True, help="Overwrite an existing entry with the same slug.")
@click.option("--no-store-predictions", is_flag=True,
              help="Do not keep id,score beside the entry (then `leaderboard validate` cannot re-score it).")
@click.option("--n-bootstrap", type=click.IntRange(1, 10_000), default=1000, show_default=True,
              help="Bootstrap resamples for CIs.")
@click.option("--partial", is_flag=True,
              help="Accept predictions that leave out whole test splits; the entry is scored on the splits it "
                   "covers, marked partial on every page and not ranked.")
@click.option("--matrix", "matrix", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="A folder written by `mom-bench matrix`: re-scored from its predictions and carried by the entry "
                   "(its cross-corpus section), kept beside it as <slug>.matrix.json.")
@click.option("--matrix-data", "matrix_data", multiple=True, type=click.Path(path_type=Path, file_okay=False),
              help="A build the matrix's training or test sets were made from (matched by label fingerprint), to "
                   "check their rows' labels against; repeatable. --data and the default build of each set's "
                   "benchmark are tried too.")
def submit_cmd(predictions, meta, benchmark, data_dir, root, replace, no_store_predictions, n_bootstrap, partial,
               matrix, matrix_data):
    """Validate, score and add PREDICTIONS to the leaderboard.

    \b
    PREDICTIONS is a CSV or Parquet file with columns id,score (score = P(fake) in [0, 1]), one row for
    every id of the benchmark's test splits, or a `mom-bench evaluate` results folder. Labels come from
    the built dataset, never from the file. Every problem is listed at once; nothing is written unless
    the submission is valid. Then run `mom-bench leaderboard render`.

    \b
    A timeline file (header exactly id,start,end,p_fake: P(fake) per scored window, as `predict
    --timeline` writes it) is recognised by its header: the entry is also scored on where in the songs
    the AI is (docs/localisation.md) and listed in the board's localisation section.

    \b
    With --matrix DIR the entry also carries a cross-corpus matrix (`mom-bench matrix`): every cell is
    re-scored from the folder's predictions with the thresholds re-chosen on its validation predictions,
    and refused when a number of matrix.json differs.

    \b
    Example:
      mom-bench submit preds.csv --meta meta.yaml --benchmark mom-mini
    """
    from mom_bench.leaderboard import submit as lb

    options = dict(root=root, replace=replace, store_predictions=not no_store_predictions, n_bootstrap=n_bootstrap,
                   partial=partial, matrix=matrix, matrix_data=tuple(matrix_data))
    try:
        if predictions.is_dir():
            path = lb.entry_from_evaluation(predictions, meta, data_dir=data_dir, benchmark=benchmark, **options)
        else:
            if not benchmark:
                raise UserError("--benchmark is required when PREDICTIONS is a file (a benchmark name: "
                                "`mom-bench build --list`)")
            path = lb.submit(predictions, meta, benchmark, data_dir=data_dir, **options)
    except lb.SubmissionRejected as err:
        raise UserError(str(err)) from None
    click.echo(lb.describe(json.loads(path.read_text(encoding="utf-8"))))
    click.echo(f"wrote {path}\nnext: mom-bench leaderboard render --root {root}")
