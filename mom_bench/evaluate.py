"""Evaluating a trained detector on the test splits of a built benchmark.

Every song is decoded with the model's own clip policy (e.g. the first 10 s for ``clam-mini``, 90 s for
``clam``) and scored independently. The results folder holds:

- ``results.json``: schema-versioned; benchmark and dataset fingerprint, the model (requested name, resolved
  configuration, checkpoint sha256, config), every metric with its 95 % CI (:func:`mom_bench.metrics
  .compute_report`), mom-bench and library versions, git commit, date;
- ``predictions.csv``: ``id, split, generator, label, score`` (P(fake)), one row per song;
- ``results.md``: the same numbers as markdown tables;
- PNG plots (:mod:`mom_bench.plots`).

The folder is written under a temporary name and swapped in, so it is never half written.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import importlib.metadata
import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pandas as pd
import torch

from mom_bench import __version__, metrics
from mom_bench.build import read
from mom_bench.train import default_run_dir, pick_device, resolve_data, write_dir_atomically

RESULTS_SCHEMA_VERSION = 1
DEFAULT_SPLITS = ("test_id", "test_ood")
# Optional dataset columns that become strata (first found wins).
STRATA_COLUMNS = {"vocals": ("vocals", "has_vocals"), "language": ("language", "lang")}
_LIBRARIES = ("torch", "torchcodec", "transformers", "datasets", "numpy", "pandas", "scikit-learn", "pyarrow")


class NoTrainedModel(FileNotFoundError):
    """No checkpoint where one was expected; the message says which command makes one."""


@dataclass
class EvalResult:
    out_dir: Path
    results: dict
    predictions: pd.DataFrame

    @property
    def report(self) -> dict:
        return self.results["metrics"]


# --------------------------------------------------------------------------------------------------
# Finding and loading a model


def find_checkpoint(model_name: str, benchmark: str, checkpoint: str | Path | None = None) -> tuple[str, str]:
    """(checkpoint folder or Hub id, resolved model name). Without ``checkpoint``: the ``best/`` folder of
    the default run of ``model_name`` on ``benchmark``."""
    from mom_bench.models import registry

    spec = registry.resolve(model_name, benchmark)
    if checkpoint is not None:
        return str(Path(checkpoint).expanduser()) if Path(checkpoint).expanduser().exists() else str(checkpoint), spec.name
    best = default_run_dir(benchmark, spec.name) / "best"
    if not (best / "config.json").is_file():
        alias = f" (resolved to {spec.name})" if spec.name != model_name else ""
        raise NoTrainedModel(f"no trained model for {model_name}{alias} on {benchmark} (looked in {best}): train "
                             f"it with `mom-bench train --model {model_name}`"
                             + (f" --benchmark {benchmark}" if benchmark != _default_benchmark() else "")
                             + ", or pass --checkpoint PATH")
    return str(best), spec.name


def _default_benchmark() -> str:
    from mom_bench import protocols

    return protocols.DEFAULT


def load_detector(model_name: str, benchmark: str, checkpoint: str | Path | None = None, device=None):
    """The trained detector (eval mode, on ``device``) and the checkpoint it came from."""
    from mom_bench.models import registry

    source, resolved = find_checkpoint(model_name, benchmark, checkpoint)
    model = registry.load(source)
    if checkpoint is None and model.name != resolved:
        raise NoTrainedModel(f"{source} holds {model.name}, expected {resolved}")
    model.to(pick_device(device)).eval()
    return model, source


def checkpoint_sha256(source: str) -> str | None:
    """sha256 of the checkpoint's weights file (None when it cannot be read, e.g. a Hub id offline)."""
    from mom_bench.models.base import WEIGHTS_NAME, resolve_file

    try:
        path = resolve_file(source, WEIGHTS_NAME)
    except OSError:
        return None
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# --------------------------------------------------------------------------------------------------
# Scoring


def score_split(model, data_dir: Path, split: str, *, batch_size: int = 8, progress: bool = True) -> pd.DataFrame:
    """One row per song of ``split``: id, split, generator, label, score (P(fake)), duration_s, plus the
    optional stratum columns. Frozen-encoder models score cached features (the same numbers as scoring the
    waveforms, without running the encoders twice). A song that cannot be decoded stops the run with its id:
    a built benchmark holds only decodable audio, so this means the folder is damaged."""
    from tqdm.auto import tqdm

    from mom_bench import audio
    from mom_bench.train import extract_features

    names = _columns(data_dir, split)
    extra = {key: next((c for c in cands if c in names), None) for key, cands in STRATA_COLUMNS.items()}
    columns = ["id", "label", "generator", "duration_s"] + [c for c in extra.values() if c]
    table = read.read_table(data_dir, split, columns)
    table = table.rename(columns={col: key for key, col in extra.items() if col})
    device = next(model.parameters()).device
    scores: list[float] = []

    try:
        if getattr(model, "frozen_encoders", False) and hasattr(model, "head_forward"):
            feats, _ = extract_features(model, data_dir, split, device, batch_size, progress, desc=f"features {split}")
            with torch.inference_mode():
                for i in range(0, len(table), 256):
                    batch = {k: v[i:i + 256].to(device) for k, v in feats.items()}
                    scores += torch.sigmoid(model.head_forward(batch).float()).cpu().tolist()
        else:
            pending: list[torch.Tensor] = []

            def flush():
                if pending:
                    with torch.inference_mode():
                        scores.extend(torch.sigmoid(model(torch.stack(pending).to(device)).float()).cpu().tolist())
                    pending.clear()

            for row in tqdm(read.iter_rows(data_dir, split, columns=["id", "audio"]), total=len(table),
                            desc=f"scoring {split}", unit="song", disable=not progress):
                pending.append(audio.load(row["audio"], model.sample_rate, clip=model.clip,
                                          name=f"{split} row {row['id']}").samples)
                if len(pending) >= batch_size:
                    flush()
            flush()
    except audio.AudioError as err:
        raise audio.AudioError(err.name, f"{err.reason} (the built dataset {data_dir} looks damaged; rebuild it)") from None
    table.insert(0, "split", split)
    table["label"] = table["label"].astype(int)
    table["score"] = scores
    return table[["id", "split", "generator", "label", "score"] + [c for c in table.columns if c not in
                                                                    ("id", "split", "generator", "label", "score")]]


def _columns(data_dir: Path, split: str) -> list[str]:
    import pyarrow.parquet as pq

    shards = read.shards(data_dir, split)
    return pq.ParquetFile(shards[0]).schema_arrow.names if shards else []


# --------------------------------------------------------------------------------------------------
# Provenance


def _library_versions() -> dict:
    out = {}
    for pkg in _LIBRARIES:
        try:
            out[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            out[pkg] = None
    return out


def git_commit() -> str | None:
    """The commit of the mom-bench source tree, when it is a git checkout (None for an installed wheel)."""
    here = Path(__file__).resolve().parent
    try:
        done = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    dirty = subprocess.run(["git", "-C", str(here), "status", "--porcelain", "--", "."], capture_output=True,
                           text=True, timeout=10)
    return done.stdout.strip() + ("+dirty" if dirty.returncode == 0 and dirty.stdout.strip() else "")


def _train_summary(source: str) -> dict | None:
    """The run's train_config.json when the checkpoint sits in a run folder (best/ or last/)."""
    path = Path(source).parent / "train_config.json"
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except ValueError:
        return None
    keys = ("model", "requested_model", "benchmark", "dataset_fingerprint", "recipe", "recipe_family", "epochs_done",
            "best_epoch", "best_val_f1")
    return {k: data.get(k) for k in keys}


# --------------------------------------------------------------------------------------------------
# Rendering


def _fmt(stat: dict | None, digits: int = 3) -> str:
    if not stat or stat.get("value") is None:
        return "n/a"
    ci = stat.get("ci")
    text = f"{stat['value']:.{digits}f}"
    return text + (f" [{ci[0]:.{digits}f}, {ci[1]:.{digits}f}]" if ci else "")


def _table(headers: list[str], rows: list[list[str]], markdown: bool) -> str:
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    if markdown:
        lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
        lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    else:
        lines = ["  ".join(str(h).ljust(w) for h, w in zip(headers, widths)),
                 "  ".join("-" * w for w in widths)]
        lines += ["  ".join(str(c).ljust(w) for c, w in zip(r, widths)) for r in rows]
    return "\n".join(lines)


def per_generator_table(report: dict, markdown: bool = False) -> str:
    rows = []
    for split, s in report["splits"].items():
        for gen, g in s["per_generator"].items():
            rows.append([split, gen, g["n_fake"], g["n_real"], _fmt(g["tpr"]), _fmt(g["f1"])])
    return _table(["split", "generator", "fakes", "reals", "TPR [95% CI]", "F1 vs all reals [95% CI]"], rows, markdown)


def overall_table(report: dict, markdown: bool = False) -> str:
    rows = []
    for split, s in report["splits"].items():
        o = s["overall"]
        rows.append([split, s["n"], s["n_fake"], s["n_real"], _fmt(o["f1"]), _fmt(o["precision"], 3),
                     _fmt(o["recall"]), _fmt(o["specificity"]), _fmt(o["accuracy"]), _fmt(o["auc"]), _fmt(o["eer"])])
    return _table(["split", "n", "fakes", "reals", "F1", "precision", "recall (TPR)", "specificity (TNR)", "accuracy",
                   "AUC", "EER"], rows, markdown)


def render_markdown(results: dict) -> str:
    report = results["metrics"]
    m, b = results["model"], results["benchmark"]
    gap = report["id_ood_gap"]
    lines = [f"# {m['name']} on {b['name']}", "",
             f"- model: `{m['name']}` (requested `{m['requested']}`), checkpoint `{m['checkpoint']}` "
             f"(sha256 `{(m['checkpoint_sha256'] or 'n/a')[:16]}`)",
             f"- dataset: {b['name']} {b.get('version') or ''}, fingerprint `{b['fingerprint'][:16]}`",
             f"- threshold {report['threshold']}, 95 % bootstrap CIs ({report['n_bootstrap']} resamples, seed "
             f"{report['seed']}), mom-bench {results['mom_bench_version']}, {results['created']}", "",
             "## Overall", "", overall_table(report, markdown=True), "",
             f"ID-OOD gap (F1 test_id - F1 test_ood): {_fmt(gap)}" + (f" ({gap['reason']})" if gap.get("reason") else ""),
             "", "## Per generator", "", per_generator_table(report, markdown=True), "",
             "Per-generator F1 is computed on {fakes of the generator} U {all reals of the split}.", ""]
    for split, s in report["splits"].items():
        for name, buckets in s.get("strata", {}).items():
            rows = [[k, v["n"], v.get("n_fake", ""), v.get("n_real", ""), _fmt(v.get("f1")), _fmt(v.get("recall")),
                     _fmt(v.get("specificity"))] for k, v in buckets.items()]
            lines += [f"## {split}: by {name}", "", _table([name, "n", "fakes", "reals", "F1", "TPR", "TNR"], rows, True), ""]
    lines += ["## Definitions", ""] + [f"- **{k}**: {v}" for k, v in report["definitions"].items()] + [""]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------
# The command


def default_results_dir(benchmark: str, model_name: str) -> Path:
    return default_run_dir(benchmark, model_name) / "results"


def evaluate(model_name: str, checkpoint: str | Path | None = None, data_dir: str | Path | None = None, *,
             benchmark: str | None = None, splits: list[str] | tuple[str, ...] | None = None,
             out_dir: str | Path | None = None, n_bootstrap: int = 1000, seed: int = 0, threshold: float = 0.5,
             batch_size: int = 8, device: str | None = None, progress: bool = True, plots: bool = True,
             log: Callable[[str], None] | None = None) -> EvalResult:
    """Score ``splits`` (default: the test splits the dataset has) and write the results folder
    (default ``<runs>/<benchmark>/<resolved model>/results``)."""
    from mom_bench.models import registry

    say = log or (lambda msg: None)
    registry.resolve(model_name, benchmark)  # a mistyped model name is reported before any data is read
    data_dir, info = resolve_data(data_dir, benchmark)
    benchmark = info["benchmark"]
    if splits:
        missing = [s for s in splits if s not in info["splits"]]
        if missing:
            raise ValueError(f"{data_dir} has no split {', '.join(missing)} (it has {', '.join(info['splits'])})")
        splits = list(splits)
    else:
        splits = [s for s in DEFAULT_SPLITS if s in info["splits"]]
        if not splits:
            raise ValueError(f"{data_dir} has no test split (it has {', '.join(info['splits'])}); pass --splits")
    model, source = load_detector(model_name, benchmark, checkpoint, device)
    resolved_note = f" (resolved from {model_name!r})" if model.name != model_name else ""
    say(f"evaluating {model.name}{resolved_note} from {source} on {benchmark} [{', '.join(splits)}]")

    frames = [score_split(model, data_dir, s, batch_size=batch_size, progress=progress) for s in splits]
    predictions = pd.concat(frames, ignore_index=True)
    report = metrics.compute_report(predictions, threshold=threshold, n_bootstrap=n_bootstrap, seed=seed)
    results = {
        "schema_version": RESULTS_SCHEMA_VERSION,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "mom_bench_version": __version__, "git_commit": git_commit(), "libraries": _library_versions(),
        "benchmark": {"name": benchmark, "version": info.get("benchmark_version"), "fingerprint": info["fingerprint"],
                      "dataset": str(data_dir), "splits": splits},
        "model": {"requested": model_name, "name": model.name, "config": model.config, "checkpoint": source,
                  "checkpoint_sha256": checkpoint_sha256(source), "training": _train_summary(source),
                  # which encoder weights produced the features: Hub id + commit, or a content hash
                  "encoders": {s: enc.identity() for s, enc in getattr(model, "encoders", {}).items()},
                  "device": str(next(model.parameters()).device)},
        "metrics": report,
    }
    out = Path(out_dir).expanduser() if out_dir else default_results_dir(benchmark, model.name)
    title = f"{model.name} on {benchmark}"

    def write(tmp: Path):
        (tmp / "results.json").write_text(json.dumps(results, indent=2))
        predictions[["id", "split", "generator", "label", "score"]].to_csv(tmp / "predictions.csv", index=False)
        (tmp / "results.md").write_text(render_markdown(results))
        if plots:
            from mom_bench import plots as plot_mod

            plot_mod.draw_all(predictions, report, tmp, title)

    write_dir_atomically(out, write)
    return EvalResult(out, results, predictions)
