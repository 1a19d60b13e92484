"""`mom-bench fold`: leave-one-generator-out and leave-one-family-out views of a build
(:func:`mom_bench.make_fold`, :func:`mom_bench.make_folds`)."""
from __future__ import annotations

import warnings
from pathlib import Path

import click

from mom_bench.cli.options import benchmark_option

KINDS = {"generator": "logo", "family": "lofo"}


def _describe(view) -> dict[str, str]:
    fold = view.fold
    control = fold["count_control"]
    fakes = f"{control['reached']}/{control['target']}" + ("" if control["enabled"] else " (no count control)")
    left = view.left_out
    return {"fold": view.benchmark,
            "held out": ", ".join(fold["held_out"]) if fold["kind"] == "logo"
            else f"{fold['family']} ({', '.join(fold['held_out'])})",
            "train fakes": fakes,
            "rows per split": ", ".join(f"{s} {view.num_rows(s)}" for s in view.splits),
            "left out": str(sum(len(v) for v in left.values())),
            "view folder": str(view.path) + (" (reused)" if view.reused else "")}


@click.command("fold")
@click.option("--data", "data_dir", type=click.Path(path_type=Path), default=None,
              help="The base: a built benchmark folder. Default: $MOM_BENCH_HOME/datasets/<benchmark>.")
@benchmark_option
@click.option("--leave-out", "leave_out", type=click.Choice(list(KINDS)), required=True,
              help="generator: leave one generator out (LOGO); family: leave one decoder family out (LOFO).")
@click.option("--held-out", "held_out", multiple=True, metavar="ID",
              help="Generator id (--leave-out generator) or decoder family (--leave-out family) to hold out; "
                   "repeatable. Default: every one the build has, one view each.")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="With one --held-out: the view folder. Otherwise the folder that gets one view folder per fold, "
                   "named after the view. Default: $MOM_BENCH_HOME/datasets/<base>~<logo|lofo>-<id>.")
@click.option("--seed", type=click.IntRange(0, 2**32 - 1), default=0, show_default=True,
              help="Salt of the order in which count control moves groups.")
@click.option("--no-count-control", "no_count_control", is_flag=True,
              help="Do not top train up to the base's number of fakes.")
@click.option("--overwrite", is_flag=True,
              help="Replace a different view in the output folder (only its view.json and README.md).")
def fold_cmd(data_dir, benchmark, leave_out, held_out, out, seed, no_count_control, overwrite):
    """Make leave-one-generator-out or leave-one-family-out folds of a build, as views.

    A view is a small folder (view.json and a README, no audio) over an existing build: the same rows in
    other splits, verified and fingerprinted like a build. train, evaluate and extract take it as they take
    a build, its features come from the base build's cache, and `mom_bench.dataset.views.load_dataset(VIEW)`
    loads it with `datasets`.

    \b
    The fold that holds out H (a generator, or every generator of a decoder family):
      - H's fakes in the base's test splits form test_ood; H's fakes in train/validation are left out;
      - the base's other test_ood fakes move to test_id (test side to test side);
      - everything else keeps its split.
    Count control: while train has fewer fakes than the base's train, whole groups (songs and the fakes made
    from them) move from test_id to train in a seeded order; the surplus fakes of the last group are left out,
    and a shortfall is reported. Validation is not topped up. docs/folds.md has the details.

    \b
    Examples:
      mom-bench fold --leave-out family                             # every LOFO fold of mom-mini
      mom-bench fold --leave-out generator --held-out rvq_codec     # one LOGO fold
      mom-bench train --model clam --data ~/.cache/mom-bench/datasets/mom-mini~logo-rvq_codec
      mom-bench evaluate --model clam --data ~/.cache/mom-bench/datasets/mom-mini~logo-rvq_codec
    """
    from mom_bench.cli.output import print_rows
    from mom_bench.dataset import folds, views
    from mom_bench.loop.runs import open_build

    kind = KINDS[leave_out]
    base = open_build(data_dir, benchmark)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if len(held_out) == 1:
            made = [views.make_fold(base, kind, held_out[0], out, seed=seed, count_control=not no_count_control,
                                    overwrite=overwrite)]
        elif held_out:
            made = [views.make_fold(base, kind, held, None if out is None else Path(out) / folds.view_name(
                base.benchmark, kind, held), seed=seed, count_control=not no_count_control, overwrite=overwrite)
                for held in dict.fromkeys(held_out)]
        else:
            made = views.make_folds(base, kind, out, seed=seed, count_control=not no_count_control,
                                    overwrite=overwrite)
    print_rows([_describe(v) for v in made], ["fold", "held out", "train fakes", "rows per split", "left out",
                                              "view folder"])
    for warning in caught:
        if issubclass(warning.category, (views.FoldSkipped, views.CountControlShort)):
            click.echo(f"note: {warning.message}")
    click.echo(f"\n{len(made)} view(s) of {base.benchmark} ({base.path}); train fakes = reached/target of count "
               "control. Use one with `mom-bench train --data VIEW` and `mom-bench evaluate --data VIEW`.")
