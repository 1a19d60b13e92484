"""`mom-bench push-dataset`: a built benchmark to the Hugging Face Hub, when its licence allows it
(:mod:`mom_bench.dataset.publish`)."""
from __future__ import annotations

from pathlib import Path

import click


@click.command("push-dataset")
@click.argument("data_dir", required=False, type=click.Path(path_type=Path, file_okay=False))
@click.option("--repo", "repo_id", required=True, help="The Hub dataset repository, owner/name (created if absent).")
@click.option("--benchmark", default=None,
              help="The benchmark whose default build is pushed when DATA_DIR is not given. Default: mom-mini.")
@click.option("--protocol", default=None,
              help="The protocol (shipped name or YAML file) that declares the build's redistribution terms. "
                   "Default: the shipped protocol of the build's benchmark.")
@click.option("--private", is_flag=True, help="Create the repository private (an existing one keeps its visibility).")
@click.option("--branch", default=None, help="Commit to this branch (created from main if absent). Default: main.")
@click.option("--message", default=None, help="Commit message.")
def push_dataset_cmd(data_dir, repo_id, benchmark, protocol, private, branch, message):
    """Push a built benchmark to the Hugging Face Hub as a dataset repository.

    \b
    The build is verified first; then README.md (the data card: ClassLabel and Audio features, configs per
    split), data/*.parquet, splits.csv, build_report.json and the licence notices the protocol names go up in
    one commit, and `datasets.load_dataset("owner/name")` reads it. Only benchmarks whose protocol declares
    that their audio may be redistributed are pushed (mom-mini: freely licensed excerpts); MoM and SONICS
    hold YouTube audio whose rights stay with their owners and are refused, saying why.

    \b
    Example:
      HF_HUB_OFFLINE=0 mom-bench push-dataset --repo me/mom-mini
    """
    from mom_bench.dataset.publish import push_dataset

    pushed = push_dataset(data_dir, repo_id, benchmark=benchmark, protocol=protocol, private=private, branch=branch,
                          message=message, say=lambda line: click.echo(line, err=True))
    click.echo(f"commit: {pushed.commit} ({pushed.branch})")
    click.echo(f"files:  {len(pushed.files)} ({', '.join(pushed.files[:4])}{', ...' if len(pushed.files) > 4 else ''})")
    click.echo(f"url:    {pushed.url}")
    click.echo(f'load:   datasets.load_dataset("{pushed.repo_id}", revision="{pushed.commit}")')
