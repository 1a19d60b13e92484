"""`mom-bench build`: a benchmark into a Hugging Face dataset folder (:func:`mom_bench.dataset.build_benchmark`)."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from mom_bench.cli.app import UserError
from mom_bench.core.splits import TEST_OOD


def _source_options(pairs, **named):
    out = {k: v for k, v in named.items() if v is not None}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UserError(f"--source-option expects KEY=VALUE, got {pair!r}")
        out[key.strip()] = value
    return out


#: Width of the benchmark list: each entry's lines are wrapped to it.
LIST_WIDTH = 120


def _list_benchmarks() -> None:
    import textwrap

    from mom_bench.dataset import protocols

    indent = " " * 4
    for name in protocols.names():
        p = protocols.load(name)
        n_ood = sum(g.is_ood for g in p.generators)
        default = "  (default)" if name == protocols.DEFAULT else ""
        gens = (f"{len(p.generators)} generators ({n_ood} OOD)" if p.source_kind not in protocols.DERIVED_KINDS
                else "the generators of the build it is made from (--from DIR)")
        click.echo(textwrap.shorten(f"{name} {p.version}{default}: {p.title}", LIST_WIDTH, placeholder=" ..."))
        details = [f"{gens}, source {p.source_kind}",
                   f"licence: {p.license}", f"host: {p.host or '(the protocol does not say)'}"]
        if (p.raw.get("variants") or {}).get("hold_out"):
            details.append("leave-one-family-out variants: "
                           + ", ".join(f"{name}{protocols.LOFO}{g.id}" for g in p.generators))
        for line in details:
            click.echo(textwrap.fill(line, LIST_WIDTH, initial_indent=indent, subsequent_indent=indent * 2,
                                     break_on_hyphens=False))


class _BuildCommand(click.Command):
    """`build`, whose help ends with what to download for the benchmark named before ``--help``."""

    def format_epilog(self, ctx, formatter) -> None:
        super().format_epilog(ctx, formatter)
        name = ctx.params.get("benchmark")
        if not name:
            return
        from mom_bench.core.errors import MomBenchError
        from mom_bench.dataset import protocols

        try:
            p = protocols.load(name)
        except MomBenchError as err:
            text, host = f"(cannot read benchmark {name!r}: {err})", None
        else:
            text, host = p.download or "(the protocol does not say)", p.host
        formatter.write_paragraph()
        with formatter.section(f"What to download for {name}"):
            if host:
                formatter.write_text(f"Host: {host}")
            for para in text.strip().split("\n\n"):
                formatter.write_text(" ".join(para.split()))


@click.command("build", cls=_BuildCommand)
@click.option("--benchmark", "-b", default=None, metavar="NAME", is_eager=True,  # read by --help after it
              help="Benchmark to build (see --list; mom-mini-lofo-<generator> holds that generator out) or a "
                   "protocol YAML file. Default: mom-mini (offline). `-b NAME --help` adds what to download for it.")
@click.option("--list", "list_only", is_flag=True, help="List the benchmarks and exit.")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Output folder. Default: $MOM_BENCH_HOME/datasets/<benchmark>.")
@click.option("--split-mode", type=click.Choice(["strict", "official"]), default="strict", show_default=True,
              help="strict: splits by hashed group (held-out generators only in test_ood). official: the "
                   "proportions of the benchmark's official code, to compare with published numbers.")
@click.option("--num-workers", "-j", type=click.IntRange(1), default=1, show_default=True,
              help="Decoding processes.")
@click.option("--resume", is_flag=True,
              help="Continue an interrupted build (also after kill -9); the same command without it does too.")
@click.option("--overwrite", is_flag=True,
              help="Build again from scratch over a finished or interrupted build; the previous build stays "
                   "complete and loadable until the new one is. Only a mom-bench build or an empty folder is "
                   "ever replaced.")
@click.option("--store", type=click.Choice(["flac", "original"]), default=None, show_default="flac",
              help="What the audio column holds. flac: mono 16-bit FLAC at the protocol's rate. original: each "
                   "validated input file's bytes, no re-encode (for MoM about the size of the hosted MP3s; every "
                   "file is still decoded once to check it).")
@click.option("--max-seconds", type=float, default=None,
              help="Store only the first N seconds of each song (with --store flac): the option for jobs that use "
                   "only the first N s, e.g. --max-seconds 90 for CLAM.")
@click.option("--keep-original", is_flag=True, help="Alias of --store original.")
@click.option("--no-space-check", is_flag=True,
              help="Skip the disk preflight (by default the build estimates the bytes it needs at its peak and "
                   "refuses, before writing anything, when the output folder's filesystem has less free).")
@click.option("--root", type=click.Path(path_type=Path), default=None,
              help="Local audio root (MoM: folders per generator / real source, file names as in the manifests).")
@click.option("--reals", type=click.Path(path_type=Path), default=None,
              help="Folder of your own copies of the real audio of a corpus that publishes its reals as ids "
                   "(YouTube, FMA, MusicCaps): files are matched by the id in their name; every unmatched id is "
                   "reported missing with its id. The data card says which ids and how to get them.")
@click.option("--manifests", type=click.Path(path_type=Path), default=None,
              help="Folder with the benchmark's manifest CSVs (MoM: ai_generated_music_metadata.csv, ...).")
@click.option("--download", is_flag=True,
              help="Fetch missing audio from the network (Hugging Face dataset repo, link lists). Off by "
                   "default: a build never downloads unless asked.")
@click.option("--from", "base", type=click.Path(path_type=Path), default=None, metavar="DIR",
              help="The built benchmark that a benchmark made from another build (-b splice) takes its rows from; "
                   "it must pass verification.")
@click.option("--source-option", "-o", "source_option", multiple=True, metavar="KEY=VALUE",
              help="Extra source option (repeatable), e.g. -o links=suno_links/ -o hf_revision=<sha>.")
@click.option("--limit", type=click.IntRange(1), default=None,
              help="Keep only the first N rows of each source (smoke tests).")
@click.option("--concurrency", type=click.IntRange(1), default=8, show_default=True,
              help="Parallel fetches (downloads).")
@click.option("--dedup-against", "dedup_against", multiple=True, type=click.Path(path_type=Path), metavar="DIR",
              help="Also compare the new build with the build in DIR (repeatable); the builds under "
                   "$MOM_BENCH_HOME/datasets are always compared. Rows found there too (same audio, same input "
                   "file, or a near-duplicate fingerprint) are listed under overlap in build_report.json.")
@click.option("--shard-mb", type=click.IntRange(1), default=256, show_default=True, help="Parquet shard size bound.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars.")
def build(benchmark, list_only, out, split_mode, num_workers, resume, overwrite, store, max_seconds, keep_original,
          no_space_check, root, reals, manifests, download, base, source_option, limit, concurrency, dedup_against,
          shard_mb, quiet):
    """Build a benchmark into a Hugging Face dataset folder with strict splits.

    \b
    Examples:
      mom-bench build                                  # mom-mini, offline (minutes on 2 CPU cores)
      mom-bench build --list
      mom-bench build -b mom --root ~/mom_audio --manifests ~/mom_manifests -j 2
      mom-bench build -b mom --split-mode official ... # the official proportions
      mom-bench build -b mom ...                       # again after an interruption: continues
      mom-bench build -b mom ... --store original      # keep the input files as they are, no re-encode
      mom-bench build -b mom ... --max-seconds 90      # only what CLAM reads of each song
      mom-bench build -b splice --from ~/.cache/mom-bench/datasets/mom-mini --out spliced
                                                       # songs with AI segments, from a build

    Every listed row ends up written, missing, unusable or excluded (by the protocol's own filter), with
    its reason in build_report.json; the exit status is 1 when anything was missing or unusable. A
    finished build made with the same options is reused, an unfinished one continues; --overwrite
    rebuilds it.
    """
    if list_only:
        _list_benchmarks()
        return
    from mom_bench.dataset import build_benchmark, protocols

    if base is not None and protocols.load(benchmark or protocols.DEFAULT).source_kind not in protocols.DERIVED_KINDS:
        raise UserError(f"--from names the build that a derived benchmark is made from "
                        f"({', '.join(protocols.DERIVED_KINDS)}); benchmark {benchmark or protocols.DEFAULT!r} "
                        "is built from its own source")
    opts = _source_options(source_option, root=str(root) if root else None, reals=str(reals) if reals else None,
                           manifests=str(manifests) if manifests else None, download=True if download else None,
                           base=str(base.expanduser().resolve()) if base else None)
    result = build_benchmark(benchmark, out, split_mode=split_mode, num_workers=num_workers, resume=resume,
                             overwrite=overwrite, max_seconds=max_seconds, keep_original=keep_original, limit=limit,
                             source_options=opts, fetch_concurrency=concurrency, shard_bytes=shard_mb << 20,
                             progress=not quiet, store=store, space_check=not no_space_check,
                             dedup_against=list(dedup_against))
    click.echo(result.summary())
    click.echo(f"report: {result.report_path}")
    if result.n_written:
        split = TEST_OOD if TEST_OOD in result.counts else next(iter(result.counts))
        click.echo(f'load:   datasets.load_dataset("{result.out_dir}", split="{split}")')
    if not result.ok:
        sys.exit(1)

