"""`mom-bench train` (:func:`mom_bench.train`)."""
from __future__ import annotations

from pathlib import Path

import click

from mom_bench.cli.app import main_process
from mom_bench.cli.options import benchmark_option, data_option, device_option, num_workers_option


@click.command("train")
@click.option("--model", "-m", "model_name", required=True,
              help="Registry name (see `mom-bench models`); resolved for the benchmark, e.g. clam -> clam-mini on "
                   "mom-mini.")
@data_option
@benchmark_option
@click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="YAML/JSON file of recipe keys (epochs, batch_size, lr, weight_decay, loss, aux_weight, margin, "
                   "...).")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Run folder. Default: $MOM_BENCH_HOME/runs/<benchmark>/<resolved model>, where evaluate looks.")
@click.option("--epochs", type=click.IntRange(1), default=None, help="Override the recipe's epoch count.")
@click.option("--seed", type=click.IntRange(0, 2**32 - 1), default=None,
              help="Seed of initialisation, shuffling and augmentation.")
@click.option("--resume", is_flag=True,
              help="Continue the run from its last/ checkpoint (same config; --epochs may grow).")
@click.option("--overwrite", is_flag=True, help="Replace an existing run in the output folder.")
@click.option("--loss", type=click.Choice(["bce", "bce+triplet", "bce+mse", "bce+huber"]), default=None,
              help="Loss ablation (CLAM family). Default: the model's recipe (bce+triplet for two-stream CLAM).")
@click.option("--negatives", type=click.Choice(["in-batch", "hard"]), default=None,
              help="Triplet negatives: every other real of the batch, or only the closest one.")
@click.option("--triplet-distance", type=click.Choice(["l2", "sql2"]), default=None,
              help="Triplet distance: l2 (official code) or squared l2 (paper's Algorithm 1).")
@click.option("--precision", type=click.Choice(["fp32", "bf16", "fp16", "auto"]), default=None,
              help="Precision of the training (a recipe key): frozen-encoder models train on features extracted at "
                   "it, so after `extract --precision bf16` pass bf16 here too, or the features are extracted "
                   "again in fp32; end-to-end models step under autocast at it. Default: the recipe's (fp32; "
                   "mixed precision on a GPU where the recipe has amp). Recorded in train_config.json; fp16 is CUDA "
                   "only; bf16 on a CPU without native bf16 is much slower.")
@device_option
@num_workers_option
def train_cmd(model_name, data_dir, benchmark, config_file, out, epochs, seed, resume, overwrite, loss, negatives,
              triplet_distance, precision, device, num_workers):
    """Train a detector on a built benchmark and keep its best-validation-F1 checkpoint.

    \b
    Recipes (per-model defaults, overridable with --config FILE or the flags):
      CLAM family: frozen encoders, the head trains on features extracted once;
                   BCE + 0.5 x triplet (margin 0.2) over the batch's reals; AdamW 1e-4, wd 0.01, batch 16.
      SpecTTTra:   BCE (label smoothing 0.02), AdamW wd 0.05, cosine + warm-up, grad clip 5,
                   MixUp, SpecAugment, random crops, mixed precision on GPU.
    The run folder gets train_config.json, train_log.jsonl (one line per epoch), best/ and last/. A run
    killed at any point continues with the same command. --out must be a run folder or empty.

    \b
    Examples:
      mom-bench train --model clam                      # mom-mini: trains clam-mini
      mom-bench train --model clam --loss bce --out runs/clam-bce
      mom-bench train --model clam --resume --epochs 60
      mom-bench extract --model clam --benchmark mom --precision bf16 && \
        mom-bench train --model clam --benchmark mom --precision bf16       # trains on the bf16 features
      torchrun --nproc-per-node 8 -m mom_bench train --model spectttra --benchmark mom   # DDP, docs/scaling.md
    """
    import mom_bench

    run_dir = mom_bench.train(model_name, data_dir, out, benchmark=benchmark, config=config_file, epochs=epochs,
                              seed=seed, resume=resume, overwrite=overwrite, loss=loss, negatives=negatives,
                              triplet_distance=triplet_distance, device=device, num_workers=num_workers,
                              precision=precision, log=click.echo)
    if main_process():
        click.echo(f"run folder: {run_dir}")
