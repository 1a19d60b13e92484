"""`mom-bench evaluate`, with or without a robustness suite (:func:`mom_bench.evaluate`,
:func:`mom_bench.evaluate_robustness`)."""
from __future__ import annotations

from pathlib import Path

import click

from mom_bench.cli.app import UserError, main_process
from mom_bench.cli.options import (
    benchmark_option,
    checkpoint_option,
    clip_option,
    comma_list,
    data_option,
    device_option,
    fake_label_option,
    hf_only,
    model_option,
    num_shards_option,
    num_workers_option,
    precision_option,
    shard_index_option,
)
from mom_bench.core.splits import VALIDATION


@click.command("evaluate")
@model_option
@checkpoint_option
@data_option
@benchmark_option
@click.option("--splits", default=None, help="Comma-separated splits. Default: test_id,test_ood (those present).")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Results folder. Default: $MOM_BENCH_HOME/runs/<benchmark>/<resolved model>/results. An existing "
                   "folder is replaced only if it is a results folder (results.json) or empty.")
@click.option("--n-bootstrap", type=click.IntRange(1), default=1000, show_default=True,
              help="Bootstrap resamples for the CIs.")
@click.option("--seed", type=click.IntRange(0), default=0, show_default=True, help="Seed of the bootstrap.")
@click.option("--batch-size", type=click.IntRange(1), default=8, show_default=True,
              help="Songs scored at once (speed only: every song is scored on its own). Shards of one run and the "
                   "run that gathers them use the same value.")
@device_option
@click.option("--no-plots", is_flag=True, help="Skip the PNG figures.")
@fake_label_option
@clip_option
@click.option("--calibration-split", default=VALIDATION, show_default=True, metavar="SPLIT",
              help="Split scored only to choose the frozen thresholds (F1-optimal, FPR 1 % and 5 %) reported "
                   "beside 0.5; never a test split; 'none' skips it.")
@click.option("--robustness", "suite", default=None, metavar="SUITE|FILE",
              help="Also score the test splits under each transform of a robustness suite (the shipped "
                   "'standard': codec round trips, pitch, tempo, filters, resampling, noise, gain, clip lengths; "
                   "or a suite YAML file; docs/robustness.md) and write <results>/robustness/.")
@click.option("--transforms", default=None, metavar="NAMES",
              help="With --robustness: comma-separated transform names to run (default: all of the suite; "
                   "clip:<policy> for a clip-length entry).")
@click.option("--exclude-overlap-with", "exclude_overlap_with", multiple=True, type=click.Path(path_type=Path),
              metavar="BUILD", help="Leave out test rows whose audio the train or validation split of the build in "
                                    "BUILD holds too (repeatable; exact or near duplicates, see docs/corpora.md); "
                                    "results.json counts them.")
@click.option("--timeline", is_flag=True,
              help="Score every song window by window: also writes timeline.csv (id,start,end,p_fake), the "
                   "localisation metrics (results.json 'localisation', results.md) and timelines/*.png for a "
                   "sample of songs; each song's score is its highest window P(fake) (docs/localisation.md).")
@click.option("--window", type=float, default=None, metavar="S",
              help="--timeline: window length in seconds (default: the model's clip length, e.g. 3 for "
                   "clam-mini; a window shorter than the clip is zero-padded to it).")
@click.option("--hop", type=float, default=None, metavar="S",
              help="--timeline: seconds between window starts (default: the window, so windows do not overlap).")
@click.option("--changepoint", is_flag=True,
              help="--timeline: make each song's timeline piecewise constant (the change-point baseline; default "
                   "off, its penalty 2 sigma^2 ln n with sigma estimated from the scores).")
@num_workers_option
@precision_option
@num_shards_option
@shard_index_option
def evaluate_cmd(model_name, checkpoint, data_dir, benchmark, splits, out, n_bootstrap, seed, batch_size, device,
                 no_plots, fake_label, clip, calibration_split, suite, transforms, exclude_overlap_with, timeline,
                 window, hop, changepoint, num_workers, precision, num_shards, shard_index):
    """Score the test splits and write results.json, predictions.csv, results.md and plots.

    \b
    Metrics (threshold 0.5 on P(fake), fake = positive): F1, precision, recall, specificity,
    accuracy, balanced accuracy, AUC, EER per split; per generator TPR and F1 on {its fakes} U
    {all reals of the split}; duration strata; the ID-OOD gap. 95 % stratified bootstrap CIs.

    \b
    With --robustness, each test split is scored again under every transform of the suite (applied on the
    fly to the stored audio; the built dataset never changes): TPR, FPR, F1 and AUC with CIs and their
    change against clean, per generator, and the per-item invariance mean/max |P(fake) change| judged by
    ArtifactBench's codec criterion (mean <= 0.15, max <= 0.35). Scores and features of transformed
    audio are cached, so an interrupted run continues and a re-run is cheap. Transforms run in the
    --num-workers decode workers (each song's randomness is seeded by the song and the transform, so
    workers and --batch-size never change a score; --precision bf16 moves scores slightly). Large suites
    split like extract: torchrun ranks, or --num-shards K --shard-index I array jobs that fill the
    caches, then one run without shards that gathers them and writes the results.

    \b
    With --timeline, every song is scored window by window (--window/--hop seconds; default the model's
    clip length, no overlap; the last window ends at the song's end), on a spliced build
    (mom-bench build -b splice --from DIR) or any other: the song-level results use each song's highest
    window P(fake), and the same folder gets timeline.csv (what `mom-bench submit` accepts), the
    localisation metrics (frame AUC/EER, segment P/R/F1 at 1 s, AI-fraction error, song AUC/F1, with
    bootstrap CIs) and timelines/*.png (up to 2 songs per pattern per split). --changepoint fits the
    change-point baseline to each song's windows. Not with --robustness, shards or torchrun.

    \b
    Examples:
      mom-bench evaluate --model clam
      mom-bench evaluate --model clam --checkpoint runs/clam-bce/best --out results/clam-bce
      mom-bench evaluate --model hf:owner/name@<commit> --fake-label spoof --clip first:10
      mom-bench evaluate --model spectttra --robustness standard
      mom-bench evaluate --model clam --robustness standard --transforms mp3_32k,mp3_64k,pitch_+1st
      mom-bench evaluate --model clam --robustness standard --num-workers 4 --precision bf16
      mom-bench evaluate --model clam --robustness standard --num-shards 16 --shard-index $SLURM_ARRAY_TASK_ID
      mom-bench evaluate --model clam --robustness standard          # after the array job: gathers, writes
      mom-bench evaluate --model clam-mini --checkpoint RUN/best --data spliced --timeline --window 2 --hop 1

    
    An hf: model's results record its Hub id and the commit it was read at (see
    docs/bring_your_own_detector.md).
    """
    import mom_bench

    hf_only(model_name, fake_label, clip)
    if not timeline:
        given = [o for o, v in (("--window", window), ("--hop", hop), ("--changepoint", changepoint)) if v]
        if given:
            raise UserError(f"{', '.join(given)} appl{'ies' if len(given) == 1 else 'y'} only with --timeline")
    elif suite or transforms or num_shards is not None or shard_index is not None:
        raise UserError("--timeline does not combine with --robustness, --transforms or --num-shards/--shard-index: "
                        "run the robustness suite and the timeline as two evaluations (into two --out folders)")
    elif exclude_overlap_with:
        raise UserError("--timeline does not take --exclude-overlap-with yet: a spliced build's songs are made from "
                        "one base build, so compare that base with the other corpus instead")
    if timeline:
        result = mom_bench.evaluate_timeline(model_name, checkpoint, data_dir, window=window, hop=hop,
                                             changepoint=changepoint, benchmark=benchmark, splits=comma_list(splits),
                                             out_dir=out, n_bootstrap=n_bootstrap, seed=seed, batch_size=batch_size,
                                             device=device, plots=not no_plots, log=click.echo,
                                             fake_label=fake_label, clip=clip,
                                             calibration_split=None if calibration_split.lower() == "none"
                                             else calibration_split, num_workers=num_workers, precision=precision)
        if main_process():
            from mom_bench.leaderboard.localisation import markdown_section

            click.echo("")
            click.echo(result.summary())
            click.echo("")
            for line in markdown_section(result.results["localisation"]):
                if line.startswith("- **"):  # the definitions: in results.md
                    break
                click.echo(line)
            click.echo(f"timeline: {result.out_dir / 'timeline.csv'}")
            click.echo(f"results: {result.out_dir}")
        return
    if transforms and not suite:
        raise UserError("--transforms picks transforms of a robustness suite: add --robustness standard (or FILE)")
    split_list = comma_list(splits)
    options = dict(benchmark=benchmark, splits=split_list, out_dir=out, n_bootstrap=n_bootstrap, seed=seed,
                   batch_size=batch_size, device=device, plots=not no_plots, log=click.echo, fake_label=fake_label,
                   clip=clip, calibration_split=None if calibration_split.lower() == "none" else calibration_split)
    if exclude_overlap_with and suite:
        raise UserError("--exclude-overlap-with applies to a plain evaluate; run it without --robustness")
    if (num_shards is not None or shard_index is not None) and not suite:
        raise UserError("--num-shards/--shard-index split a robustness run (add --robustness SUITE); a plain "
                        "evaluate splits across torchrun ranks, and `mom-bench extract` shards the features")
    if suite and (num_shards is not None or shard_index is not None):
        from mom_bench.loop.robustness import score_shard

        if num_shards is None or shard_index is None:
            raise UserError("--num-shards and --shard-index go together (e.g. --num-shards 8 --shard-index 3)")
        done = score_shard(model_name, checkpoint, data_dir, num_shards=num_shards, shard_index=shard_index,
                           benchmark=benchmark, suite=suite, transforms=comma_list(transforms), splits=split_list,
                           batch_size=batch_size, num_workers=num_workers, precision=precision, device=device,
                           log=click.echo, fake_label=fake_label, clip=clip)
        click.echo(f"{done.part.label()}: {done.computed} song-transforms computed, {done.cached} already cached, "
                   f"in {done.seconds:.1f} s; when every shard is done, run the same command without "
                   "--num-shards/--shard-index to gather them and write the results")
        return
    if suite:
        names = comma_list(transforms)
        result, robust = mom_bench.evaluate_robustness(model_name, checkpoint, data_dir, suite=suite,
                                                       transforms=names, num_workers=num_workers,
                                                       precision=precision, **options)
    else:
        result = mom_bench.evaluate(model_name, checkpoint, data_dir, num_workers=num_workers, precision=precision,
                                    exclude_overlap_with=list(exclude_overlap_with), **options)
        robust = None
    if not main_process():
        return
    click.echo("")
    click.echo(result.summary())
    if robust is not None:
        click.echo("")
        click.echo(robust.summary())
        click.echo(f"robustness: {robust.out_dir}")
    click.echo(f"results: {result.out_dir}")
