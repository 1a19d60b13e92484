"""`mom-bench push`: a trained detector, its results and model card to the Hugging Face Hub
(:mod:`mom_bench.loop.sharing`)."""
from __future__ import annotations

from pathlib import Path

import click


@click.command("push")
@click.argument("run_or_checkpoint", type=click.Path(path_type=Path, file_okay=False))
@click.option("--repo", "repo_id", required=True, help="The Hub model repository, owner/name (created if absent).")
@click.option("--results", type=click.Path(path_type=Path), default=None,
              help="The results.json (or its folder) of `mom-bench evaluate` on this checkpoint. Default: the run's "
                   "results/results.json.")
@click.option("--no-results", is_flag=True, help="Push without scores (the card then has no model-index).")
@click.option("--private", is_flag=True, help="Create the repository private (an existing one keeps its visibility).")
@click.option("--branch", default=None, help="Commit to this branch (created from main if absent). Default: main.")
@click.option("--license", "license_id", default=None,
              help="The weights' licence as a Hub licence id (e.g. cc-by-nc-4.0). Default: the evaluation "
                   "benchmark's data licence.")
@click.option("--dataset-repo", default=None,
              help="The Hub dataset holding the benchmark (`mom-bench push-dataset`), named in the model-index.")
@click.option("--message", default=None, help="Commit message.")
def push_cmd(run_or_checkpoint, repo_id, results, no_results, private, branch, license_id, dataset_repo, message):
    """Push a trained detector to the Hugging Face Hub, with a model card of its scores.

    \b
    RUN_OR_CHECKPOINT is a run folder of `mom-bench train` (its best/ checkpoint is pushed) or a checkpoint
    folder. One commit holds config.json, model.safetensors, results.json and README.md, whose model-index
    (benchmark, split, dataset fingerprint, metrics) the Hub page shows. Results of other weights are
    refused. Needs a token with write access (`hf auth login` or HF_TOKEN) and HF_HUB_OFFLINE=0.

    \b
    Example:
      HF_HUB_OFFLINE=0 mom-bench push ~/.mom-bench/runs/mom-mini/clam-mini --repo me/clam-mini
    """
    from mom_bench.loop.sharing import push_detector

    pushed = push_detector(run_or_checkpoint, repo_id, results=results, no_results=no_results, private=private,
                           branch=branch, license=license_id, dataset_id=dataset_repo, message=message,
                           say=lambda line: click.echo(line, err=True))
    click.echo(f"commit: {pushed.commit} ({pushed.branch})")
    click.echo(f"files:  {', '.join(pushed.files)}")
    click.echo(f"url:    {pushed.url}")
    click.echo(f'load:   mb.load_detector("{pushed.repo_id}@{pushed.commit}")')
