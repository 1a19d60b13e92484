"""`mom-bench matrix` (:func:`mom_bench.matrix`)."""
from __future__ import annotations

from pathlib import Path

import click

from mom_bench.cli.app import main_process
from mom_bench.cli.options import comma_list, device_option, num_workers_option


@click.command("matrix")
@click.option("--model", "-m", "model_name", required=True,
              help="Registry name (see `mom-bench models`), resolved for each training set's benchmark "
                   "(clam -> clam-mini on mom-mini and its folds).")
@click.option("--train", "train_sets", multiple=True, required=True, metavar="SET",
              help="A training set (repeat for more): a built benchmark's folder, a view made by `mom-bench fold`, "
                   "or a benchmark name (its default build).")
@click.option("--test", "test_sets", multiple=True, required=True, metavar="SET",
              help="A test set (repeat for more), named like --train.")
@click.option("--folds", type=click.Choice(["lofo", "logo"]), default=None,
              help="Replace each --train set by its leave-one-family-out (lofo) or leave-one-generator-out (logo) "
                   "folds: count-controlled views made under OUT/folds (see `mom-bench fold --help`).")
@click.option("--keep-base", is_flag=True, help="With --folds, keep each --train set itself as a row too.")
@click.option("--exclude-overlap", "exclude_overlap", is_flag=True,
              help="Also leave out test rows whose audio a training set's train or validation split holds under "
                   "another id or in another corpus (exact or near duplicates, see docs/corpora.md); each cell "
                   "counts them (excluded_content_overlap).")
@click.option("--by-pool", is_flag=True,
              help="Add, for each test set, one column per pool of reals (all its fakes against that pool's reals).")
@click.option("--test-splits", default=None, metavar="LIST",
              help="Comma-separated splits of each test set, scored together (default: test_id,test_ood).")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Output folder. Default: $MOM_BENCH_HOME/runs/matrix/<model>. Run again to continue or reuse.")
@click.option("--epochs", type=click.IntRange(1), default=None, help="Override the recipe's epoch count.")
@click.option("--train-seed", type=click.IntRange(0, 2**32 - 1), default=None, help="Seed of each training run.")
@click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="YAML/JSON file of recipe keys for every training run.")
@click.option("--fold-seed", type=click.IntRange(0), default=0, show_default=True,
              help="Seed of the folds' count control (which groups top the training fakes up).")
@click.option("--n-bootstrap", type=click.IntRange(1), default=1000, show_default=True,
              help="Bootstrap resamples of every interval.")
@click.option("--seed", type=click.IntRange(0, 2**32 - 1), default=0, show_default=True, help="Seed of the bootstrap.")
@click.option("--threshold", type=click.FloatRange(0, 1), default=0.5, show_default=True,
              help="The fixed threshold (carried like the chosen ones).")
@click.option("--batch-size", type=click.IntRange(1), default=8, show_default=True, help="Songs per forward pass.")
@click.option("--precision", type=click.Choice(["fp32", "bf16", "fp16", "auto"]), default=None,
              help="Precision of training and scoring (default: the recipe's; scoring at the precision each run "
                   "was trained at).")
@device_option
@num_workers_option
@click.option("--quiet", is_flag=True, help="No progress bars.")
def matrix_cmd(model_name, train_sets, test_sets, folds, keep_base, exclude_overlap, by_pool, test_splits, out, epochs,
               train_seed, config_file, fold_seed, n_bootstrap, seed, threshold, batch_size, precision, device,
               num_workers, quiet):
    """Train one detector on each training set and score it on each test set, with the thresholds chosen on
    the training set's own validation split carried unchanged: the cross-corpus protocol.

    \b
    A cell is (training set, test set): the run trained on the row's set, scored on the column's set (its
    test splits together). Thresholds travel like this: for each training set, its validation split is scored
    and four thresholds are fixed there (0.5, max F1, the threshold giving 5 % and 1 % FPR on validation);
    they are written to OUT/rows/<set>/thresholds.json before any test set is scored, and applied unchanged to
    every column. Each cell reports AUC, EER and TPR/FPR at each carried threshold, per decoder family and per
    pool of reals too; test rows the training set trained or validated on are left out and counted.

    \b
    Nothing is done twice: features come from the cache (a fold reads its base's), a finished run is reused,
    thresholds and cells are files keyed by what they depend on. An interrupted matrix continues cell by
    cell; a second run reuses everything and says so. Under torchrun every step runs sharded; rank 0 writes.

    \b
    Output: matrix.json (schema mom_bench/report/schemas/matrix.schema.json), matrix.md, matrix.png
    (heatmaps of AUC and of FPR at the carried 5 % threshold), rows/, cells/<row>/<column>/predictions.csv,
    runs/ and folds/.

    \b
    Examples:
      mom-bench matrix --model fakeprint --train mom-mini --folds lofo --test mom-mini --by-pool
      mom-bench matrix --model clam --train sonics --train mom --test sonics --test mom
    """
    import mom_bench

    result = mom_bench.matrix(model_name, list(train_sets), list(test_sets), out, folds=folds, keep_base=keep_base,
                              by_pool=by_pool, test_splits=comma_list(test_splits), epochs=epochs,
                              train_seed=train_seed, config=config_file, fold_seed=fold_seed,
                              n_bootstrap=n_bootstrap, seed=seed, threshold=threshold, batch_size=batch_size,
                              device=device, num_workers=num_workers, precision=precision, progress=not quiet,
                              log=click.echo, exclude_content_overlap=exclude_overlap)
    if main_process():
        click.echo("")
        click.echo(result.summary())
        click.echo(f"\nmatrix folder: {result.out} (matrix.json, matrix.md, matrix.png)")
