"""`mom-bench extract`: fill the feature cache of a frozen-encoder model (:func:`mom_bench.extract`)."""
from __future__ import annotations

import click

from mom_bench.cli.app import UserError
from mom_bench.cli.options import (
    benchmark_option,
    comma_list,
    data_option,
    num_shards_option,
    num_workers_option,
    precision_option,
    shard_index_option,
)


@click.command("extract")
@click.option("--model", "-m", "model_name", required=True,
              help="Frozen-encoder model (clam, mert-only, wav2vec2-only, ... or a saved checkpoint folder).")
@click.option("--checkpoint", default=None,
              help="Saved detector folder whose encoders to use (default: the registry row's).")
@data_option
@benchmark_option
@click.option("--splits", default=None, help="Comma-separated splits. Default: every split of the build.")
@num_shards_option
@shard_index_option
@click.option("--merge", is_flag=True,
              help="Check that the shards together hold every row (naming the missing shards) instead of computing.")
@click.option("--batch-size", type=click.IntRange(1), default=8, show_default=True,
              help="Songs encoded at once; the same value for every shard and for train/evaluate keeps features "
                   "bit-identical to a one-process run.")
@click.option("--device", default=None,
              help="torch device (default: cuda if available, else cpu; cuda:<LOCAL_RANK> under a launcher).")
@num_workers_option
@precision_option
@click.option("--flush-every", type=click.IntRange(1), default=256, show_default=True, metavar="SONGS",
              help="Write a cache shard every SONGS songs (or 5 minutes, whichever first): what a killed process "
                   "loses at most.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars.")
def extract_cmd(model_name, checkpoint, data_dir, benchmark, splits, num_shards, shard_index, merge, batch_size,
                device, num_workers, precision, flush_every, quiet):
    """Fill the feature cache of a frozen-encoder model, so train and evaluate never run the encoders.

    Rows of each split are cut into contiguous blocks of whole batches in stored order; a shard computes
    its block, skipping what is cached (a killed shard resumes from its last written cache shard). Under a
    distributed launcher the ranks are the shards. Merged features are bit-identical to a one-process run
    at the same --batch-size and thread count (docs/scaling.md).

    \b
    Examples:
      mom-bench extract --model clam --benchmark mom --num-workers 4 --precision bf16
      torchrun --nproc-per-node 8 -m mom_bench extract --model clam --benchmark mom
      mom-bench extract --model clam --num-shards 64 --shard-index $SLURM_ARRAY_TASK_ID
      mom-bench extract --model clam --merge          # after the array job: every shard there?
    """
    import mom_bench
    from mom_bench.loop.extraction import merge as merge_features

    split_list = comma_list(splits)
    if merge:
        if num_shards is not None or shard_index is not None:
            raise UserError("--merge checks the whole set of shards: drop --num-shards/--shard-index")
        folders = merge_features(model_name, data_dir, benchmark=benchmark, checkpoint=checkpoint, splits=split_list,
                                 precision=precision, device=device)
        for split, folder in folders.items():
            click.echo(f"{split}: complete ({folder})")
        return
    result = mom_bench.extract(model_name, data_dir, benchmark=benchmark, checkpoint=checkpoint, splits=split_list,
                               num_shards=num_shards, shard_index=shard_index, batch_size=batch_size,
                               num_workers=num_workers, precision=precision, device=device, progress=not quiet,
                               flush_every=flush_every, log=click.echo)
    for split, n in result.computed.items():
        click.echo(f"{split}: {n} songs computed by {result.part.label()} ({result.folders[split]})")
    click.echo(f"done in {result.seconds:.1f} s")
