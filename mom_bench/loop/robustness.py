"""Scoring a detector under a robustness suite: every test split again under each transform of the suite
(codec round trips, pitch, tempo, filters, resampling, noise, gain; :mod:`mom_bench.dataset.transforms`) and each clip
policy it sweeps, compared with the clean evaluation of the same checkpoint.

The built dataset is never changed: each song's clip window is decoded, transformed at the stored rate,
resampled to the model's rate and scored (:func:`mom_bench.loop.inference.decode_row`). For every transform x
split x generator it reports TPR on fakes, FPR on reals, F1 and AUC with bootstrap intervals, their deltas
against clean, and the per-item invariance: mean and max |P(fake, transformed) - P(fake, clean)|, per
transform and per family, judged against ArtifactBench's codec-invariance criterion (arXiv 2604.16254:
mean <= 0.15 and max <= 0.35).

Scores of each (split, transform) are cached under a key naming the checkpoint's hash, the dataset's
fingerprint, the clip and the transform (kind, parameters, seed), and frozen-encoder features of transformed
audio go through the feature cache under a key that includes the transform, so an interrupted run continues
where it stopped and a second run only re-computes the metrics.

Outputs, in ``<results folder>/robustness/`` (swapped in whole, beside the clean ``results.json``):
``robustness.json``, ``robustness.md``, ``robustness_predictions.csv`` (``id, split, transform, score``) and the
figures ``robustness_heatmap.png`` (transform x generator: delta TPR, and delta FPR on each split's reals) and
``robustness_codecs.png`` (TPR and FPR over codec bit rates).
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mom_bench.core import distributed, settings
from mom_bench.core.errors import RobustnessError
from mom_bench.core.files import check_replaceable, write_atomic
from mom_bench.core.splits import RowStatus
from mom_bench.dataset import read
from mom_bench.dataset.transforms import Suite, Transform, TransformError, item_seed, load_suite
from mom_bench.report import metrics

if TYPE_CHECKING:  # evaluation is imported when a suite runs, keeping it off the import of this module
    from mom_bench.loop.evaluation import EvalConfig, EvalResult

SCHEMA_VERSION = 1
FOLDER = "robustness"
MARKER = "robustness.json"
#: ArtifactBench's codec-invariance criterion (arXiv 2604.16254): an item and its re-encoded copies may differ
#: in P(fake) by at most this much on average, and at most ``INVARIANCE_MAX`` for any item.
INVARIANCE_MEAN = 0.15
INVARIANCE_MAX = 0.35
_STATS = ("tpr", "fpr", "f1", "auc")


@dataclass(frozen=True)
class AppliedTransform:
    """A suite transform bound to the suite's seed: what :func:`mom_bench.loop.inference.split_logits` calls on
    each song (:class:`mom_bench.loop.inference.RowTransform`)."""

    transform: Transform
    suite_seed: int

    @property
    def key(self) -> str:
        # a random transform's output also depends on its name and the suite seed (the per-item seed's inputs)
        t = self.transform
        return f"{t.key}|{t.name}|seed={self.suite_seed}" if t.is_random else t.key

    def __call__(self, samples, sample_rate: int, item_id: str):
        seed = item_seed(self.suite_seed, self.transform.name, item_id)
        return self.transform.apply(samples, sample_rate, seed=seed)


@dataclass
class RobustnessResult:
    out_dir: Path
    document: dict[str, Any]

    def summary(self) -> str:
        """The table `mom-bench evaluate --robustness` prints."""
        return render_markdown(self.document, compact=True)


def select(suite: Suite, names: list[str] | tuple[str, ...] | None) -> list[Transform]:
    """The suite's transforms named in ``names`` (all when None), in suite order; unknown names are refused.
    ``clip:<policy>`` names pick entries of the suite's clip sweep and must be among them."""
    if not names:
        return list(suite.transforms)
    wanted = [n.strip() for n in names if n.strip()]
    clips = {f"clip:{c}" for c in suite.clips}
    for name in wanted:
        if name.startswith("clip:"):
            if name not in clips:
                raise RobustnessError(f"{suite.path}: no clip entry {name!r}; the suite sweeps "
                                      f"{', '.join(sorted(clips)) or 'no clip policies'}")
        else:
            suite.transform(name)  # raises naming the close match and every known name
    return [t for t in suite.transforms if t.name in set(wanted)]


def evaluate_robustness(model: Any, checkpoint: str | Path | None = None, data_dir: str | Path | None = None, *,
                        benchmark: str | None = None, suite: str | Path = "standard",
                        transforms: list[str] | tuple[str, ...] | None = None, clips: bool = True,
                        splits: list[str] | tuple[str, ...] | None = None, out_dir: str | Path | None = None,
                        n_bootstrap: int = 1000, seed: int = 0, threshold: float = 0.5, batch_size: int = 8,
                        device: str | None = None, progress: bool = True, plots: bool = True,
                        log: Callable[[str], None] | None = None, fake_label: str | None = None,
                        clip: str | None = None, calibration_split: str | None = metrics.CALIBRATION_SPLIT,
                        ) -> tuple[EvalResult, RobustnessResult]:
    """Evaluate ``model`` as :func:`mom_bench.loop.evaluation.evaluate` does (clean results folder), then score its
    test splits under each transform of ``suite`` (a shipped suite's name or a YAML path; ``transforms``
    picks a subset by name; ``clips=False`` skips the suite's clip-policy sweep) and write the ``robustness/``
    folder inside the results folder. Returns (the clean ``EvalResult``, the :class:`RobustnessResult`)."""
    from mom_bench.loop import evaluation

    config = evaluation.EvalConfig(benchmark=benchmark, splits=splits, out_dir=out_dir, n_bootstrap=n_bootstrap,
                                   seed=seed, threshold=threshold, batch_size=batch_size, device=device,
                                   progress=progress, plots=plots, log=log, fake_label=fake_label, clip=clip,
                                   calibration_split=calibration_split)
    return run(model, config, suite=suite, transforms=transforms, clips=clips, checkpoint=checkpoint,
               data_dir=data_dir)


def run(model: Any, config: EvalConfig, *, suite: str | Path = "standard",
        transforms: list[str] | tuple[str, ...] | None = None, clips: bool = True,
        checkpoint: str | Path | None = None, data_dir: str | Path | None = None
        ) -> tuple[EvalResult, RobustnessResult]:
    """:func:`evaluate_robustness` with the evaluation options as one :class:`mom_bench.loop.evaluation.EvalConfig`."""
    from mom_bench.loop import evaluation

    say, threshold, n_bootstrap, seed = config.say, config.threshold, config.n_bootstrap, config.seed
    batch_size, progress, plots = config.batch_size, config.progress, config.plots
    if distributed.launched():
        raise RobustnessError("the robustness suite runs in one process: start it without torchrun (its clean "
                              "evaluation can use the launcher on its own: mom-bench evaluate without --robustness)")
    loaded = load_suite(suite)
    chosen = select(loaded, transforms)
    # The clean results are written with robustness/ at the end, in one swap: a run that fails on the way
    # leaves the previous results folder, robustness/ included, as it was.
    clean = evaluation.run(model, config, checkpoint=checkpoint, data_dir=data_dir, write=False)
    check_replaceable(clean.out_dir / FOLDER, MARKER, "robustness folder")  # before the long part
    bench = clean.results["benchmark"]
    assert clean.build is not None
    data = clean.build  # opened and verified once; a fold view reads its base's rows through it
    tests = [s for s in bench["splits"] if s.startswith("test")]
    if not tests:
        raise RobustnessError(f"no test split among the evaluated splits ({', '.join(bench['splits'])}): the "
                              "robustness suite scores test splits")
    detector, source = clean.detector, clean.results["model"]["checkpoint"]
    stored_rate = int(clean.build.report()["audio"]["sample_rate"])
    clean_rows = clean.predictions[clean.predictions["split"].isin(tests)].reset_index(drop=True)
    cache_id = clean.results["model"].get("checkpoint_sha256")
    scorer = _Scorer(detector, data, bench["fingerprint"], cache_id, batch_size, progress)

    entries: list[dict[str, Any]] = []
    scored: list[pd.DataFrame] = []
    say(f"robustness suite {loaded.name} {loaded.version}: {len(chosen)} transforms on {', '.join(tests)} "
        f"(stored audio at {stored_rate} Hz)")
    for t in chosen:
        try:
            t.check_sample_rate(stored_rate)
        except TransformError as err:
            entries.append(_skipped(t.name, t.kind, t.family, t.params, t.key, str(err)))
            continue
        applied = AppliedTransform(t, loaded.seed)
        frame = scorer.score(tests, clean_rows, applied.key, str(detector.clip), transform=applied, label=t.name)
        entries.append(_entry(t.name, t.kind, t.family, t.params, applied.key, clean.report, clean_rows, frame,
                              threshold, n_bootstrap, seed))
        scored.append(frame.assign(transform=t.name))
    if clips:
        for policy in loaded.clips:
            name = f"clip:{policy}"
            if transforms and name not in transforms:
                continue
            try:
                frame = scorer.score(tests, clean_rows, f"clip={policy}", str(policy), clip=policy, label=name)
            except ValueError as err:  # e.g. a model built for one input length (SpecTTTra's fixed patch grid)
                entries.append(_skipped(name, "clip", "clip", {"clip": str(policy)}, f"clip={policy}",
                                        f"the model does not take this clip: {err}"))
                continue
            entries.append(_entry(name, "clip", "clip", {"clip": str(policy)}, f"clip={policy}", clean.report,
                                  clean_rows, frame, threshold, n_bootstrap, seed))
            scored.append(frame.assign(transform=name))

    document = {
        "schema_version": SCHEMA_VERSION,
        "suite": {"name": loaded.name, "version": loaded.version, "seed": loaded.seed,
                  "file": loaded.path.name},
        "model": clean.results["model"]["name"], "checkpoint": source,
        "benchmark": {k: bench[k] for k in ("name", "version", "fingerprint")},
        "splits": tests, "stored_sample_rate": stored_rate, "model_clip": str(detector.clip),
        "threshold": threshold, "n_bootstrap": n_bootstrap, "seed": seed,
        "criterion": {"mean_abs_dp": INVARIANCE_MEAN, "max_abs_dp": INVARIANCE_MAX,
                      "source": "ArtifactBench codec invariance (arXiv 2604.16254)"},
        "clean": {s: _split_stats(clean.report["splits"][s]) for s in tests},
        "transforms": entries,
        "families": _families(entries),
    }
    document["summary"] = summary(document)
    out = clean.out_dir / FOLDER
    predictions = pd.concat(scored, ignore_index=True) if scored else pd.DataFrame(
        columns=["id", "split", "transform", "score"])

    def write(tmp: Path) -> None:
        (tmp / MARKER).write_text(json.dumps(document, indent=2), encoding="utf-8")
        (tmp / "robustness.md").write_text(render_markdown(document), encoding="utf-8")
        predictions[["id", "split", "transform", "score"]].to_csv(tmp / "robustness_predictions.csv", index=False,
                                                                   encoding="utf-8")
        if plots:
            from mom_bench.report import plots as plotting

            plotting.robustness_heatmap(document, tmp / "robustness_heatmap.png")
            plotting.codec_lines(document, tmp / "robustness_codecs.png")

    def write_folder(tmp: Path) -> list[str]:
        folder = tmp / FOLDER
        folder.mkdir()
        write(folder)
        return [FOLDER]

    evaluation.write_results(clean, also=write_folder, say=say)
    return clean, RobustnessResult(out, document)


class _Scorer:
    """Scores test splits under one change at a time, through a per-(split, change) score cache."""

    def __init__(self, detector: Any, data: read.Build, fingerprint: str, checkpoint_sha: str | None, batch_size: int,
                 progress: bool):
        self.detector, self.data, self.fingerprint = detector, data, fingerprint
        self.checkpoint_sha, self.batch_size, self.progress = checkpoint_sha, batch_size, progress

    def score(self, splits: list[str], clean_rows: pd.DataFrame, change: str, clip_text: str, *,
              transform: AppliedTransform | None = None, clip=None, label: str) -> pd.DataFrame:
        frames = []
        for split in splits:
            rows = clean_rows[clean_rows["split"] == split].reset_index(drop=True)
            probs = self._cached(split, change, clip_text, rows)
            if probs is None:
                probs = self._run(split, transform, clip, label)
                if len(probs) != len(rows):
                    raise RobustnessError(f"{self.data}: split {split} gave {len(probs)} scores under {label}, "
                                          f"{len(rows)} clean ones (the build changed during the run?)")
                self._store(split, change, clip_text, rows, probs)
            frames.append(rows.assign(score=probs))
        return pd.concat(frames, ignore_index=True)

    def _run(self, split: str, transform: AppliedTransform | None, clip, label: str) -> np.ndarray:
        from mom_bench.loop.inference import split_logits

        saved = self.detector.clip
        if clip is not None:
            self.detector.clip = clip
        try:
            logits = split_logits(self.detector, self.data, split, batch_size=self.batch_size,
                                  progress=self.progress, transform=transform, desc=f"{label} {split}")
        finally:
            self.detector.clip = saved
        return logits.sigmoid().double().numpy()

    def _path(self, split: str, change: str, clip_text: str) -> Path | None:
        if not self.checkpoint_sha:  # a Python object has no identity to key its scores on
            return None
        key = json.dumps({"checkpoint": self.checkpoint_sha, "config": getattr(self.detector, "config", None),
                          "dataset": self.fingerprint, "split": split, "change": change, "clip": clip_text},
                         sort_keys=True, default=str)
        return settings.cache_dir() / "robustness-scores" / f"{hashlib.sha256(key.encode()).hexdigest()[:32]}.json"

    def _cached(self, split: str, change: str, clip_text: str, rows: pd.DataFrame) -> np.ndarray | None:
        path = self._path(split, change, clip_text)
        if path is None or not path.is_file():
            return None
        try:
            stored = json.loads(path.read_text(encoding="utf-8"))
            if stored["ids"] != rows["id"].astype(str).tolist():
                return None
            probs = np.asarray(stored["scores"], dtype=np.float64)
        except (OSError, ValueError, KeyError, TypeError):
            return None  # a damaged cache file is scored again and rewritten
        return probs if len(probs) == len(rows) and np.isfinite(probs).all() else None

    def _store(self, split: str, change: str, clip_text: str, rows: pd.DataFrame, probs: np.ndarray) -> None:
        path = self._path(split, change, clip_text)
        if path is not None:
            write_atomic(path, json.dumps({"ids": rows["id"].astype(str).tolist(), "scores": probs.tolist()}))


# --------------------------------------------------------------------------------------------------
# Metrics of one transform against clean


def _stat(value: Any) -> dict[str, Any]:
    return {"value": value["value"], "ci": value.get("ci")} if isinstance(value, dict) else {"value": value, "ci": None}


def _fpr(specificity: dict[str, Any]) -> dict[str, Any]:
    v, ci = specificity.get("value"), specificity.get("ci")
    return {"value": None if v is None else 1.0 - v,
            "ci": None if not ci or None in ci else [1.0 - ci[1], 1.0 - ci[0]]}


def _split_stats(split_report: Mapping[str, Any]) -> dict[str, Any]:
    o = split_report["overall"]
    return {"n": split_report["n"], "n_fake": split_report["n_fake"], "n_real": split_report["n_real"],
            "tpr": _stat(o["recall"]), "fpr": _fpr(o["specificity"]), "f1": _stat(o["f1"]), "auc": _stat(o["auc"]),
            "per_generator": {g: {"tpr": _stat(m["tpr"]), "f1": _stat(m["f1"])}
                              for g, m in split_report["per_generator"].items()}}


def _delta(after: dict[str, Any] | None, before: dict[str, Any] | None) -> float | None:
    a, b = (after or {}).get("value"), (before or {}).get("value")
    return None if a is None or b is None else float(a) - float(b)


def _invariance(clean: np.ndarray, changed: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    dp = np.abs(changed - clean)
    out: dict[str, Any] = {"mean_abs_dp": float(dp.mean()) if len(dp) else None,
                           "max_abs_dp": float(dp.max()) if len(dp) else None}
    for name, mask in (("fake", labels == 1), ("real", labels == 0)):
        out[f"mean_abs_dp_{name}"] = float(dp[mask].mean()) if mask.any() else None
    return out


def _entry(name: str, kind: str, family: str, params: dict, key: str, clean_report: Mapping[str, Any],
           clean_rows: pd.DataFrame, frame: pd.DataFrame, threshold: float, n_bootstrap: int,
           seed: int) -> dict[str, Any]:
    report = metrics.compute_report(frame, threshold=threshold, n_bootstrap=n_bootstrap, seed=seed)
    paired = frame[["split", "id", "label", "score"]].merge(
        clean_rows[["split", "id", "score"]], on=["split", "id"], suffixes=("", "_clean"), validate="one_to_one")
    splits = {}
    for split, split_report in report["splits"].items():
        stats = _split_stats(split_report)
        before = _split_stats(clean_report["splits"][split])
        stats["delta"] = {k: _delta(stats[k], before[k]) for k in _STATS}
        for g, m in stats["per_generator"].items():
            b = before["per_generator"].get(g, {})
            m["delta_tpr"], m["delta_f1"] = _delta(m["tpr"], b.get("tpr")), _delta(m["f1"], b.get("f1"))
        rows = paired[paired["split"] == split]
        stats["invariance"] = _invariance(rows["score_clean"].to_numpy(float), rows["score"].to_numpy(float),
                                          rows["label"].to_numpy(int))
        splits[split] = stats
    dp = np.abs(paired["score"].to_numpy(float) - paired["score_clean"].to_numpy(float))
    return {"name": name, "kind": kind, "family": family, "params": params, "key": key, "status": RowStatus.OK,
            "splits": splits,
            "invariance": {"mean_abs_dp": float(dp.mean()), "max_abs_dp": float(dp.max()),
                           "passes": bool(dp.mean() <= INVARIANCE_MEAN and dp.max() <= INVARIANCE_MAX)}}


def _skipped(name: str, kind: str, family: str, params: dict, key: str, reason: str) -> dict[str, Any]:
    return {"name": name, "kind": kind, "family": family, "params": params, "key": key, "status": RowStatus.SKIPPED,
            "reason": reason}


def _families(entries: list[dict[str, Any]]) -> dict[str, Any]:
    """Per family: the item-weighted mean and the max of |dP| over its transforms, the criterion's verdict,
    and the worst TPR / FPR over its transforms and test splits."""
    out: dict[str, Any] = {}
    for family in dict.fromkeys(e["family"] for e in entries):
        done = [e for e in entries if e["family"] == family and e["status"] == RowStatus.OK]
        if not done:
            out[family] = {"transforms": 0}
            continue
        mean = float(np.mean([e["invariance"]["mean_abs_dp"] for e in done]))
        worst = float(max(e["invariance"]["max_abs_dp"] for e in done))
        tprs = [s["tpr"]["value"] for e in done for s in e["splits"].values() if s["tpr"]["value"] is not None]
        fprs = [s["fpr"]["value"] for e in done for s in e["splits"].values() if s["fpr"]["value"] is not None]
        out[family] = {"transforms": len(done), "mean_abs_dp": mean, "max_abs_dp": worst,
                       "passes_invariance": bool(mean <= INVARIANCE_MEAN and worst <= INVARIANCE_MAX),
                       "worst_tpr": min(tprs) if tprs else None, "worst_fpr": max(fprs) if fprs else None}
    return out


def summary(document: dict[str, Any]) -> dict[str, Any]:
    """The few numbers a leaderboard row carries: worst-case TPR and FPR under codecs, mean and max |dP| under
    codecs with the criterion's verdict, and the transform that hurts TPR most."""
    codec = document["families"].get("codec") or {}
    worst: tuple[float, str] | None = None
    for e in document["transforms"]:
        if e["status"] != RowStatus.OK:
            continue
        for s in e["splits"].values():
            d = s["delta"]["tpr"]
            if d is not None and (worst is None or d < worst[0]):
                worst = (d, e["name"])
    return {"suite": f"{document['suite']['name']}@{document['suite']['version']}",
            "transforms": sum(e["status"] == RowStatus.OK for e in document["transforms"]),
            "codec_worst_tpr": codec.get("worst_tpr"), "codec_worst_fpr": codec.get("worst_fpr"),
            "codec_mean_abs_dp": codec.get("mean_abs_dp"), "codec_max_abs_dp": codec.get("max_abs_dp"),
            "codec_invariant": codec.get("passes_invariance"),
            "most_harmful": worst[1] if worst else None, "most_harmful_delta_tpr": worst[0] if worst else None}


def recomputed_summary(document: dict[str, Any]) -> dict[str, Any]:
    """:func:`summary` of ``document`` with its families made again from its transform rows by
    :func:`_families`, as :func:`run` makes them: what the ``summary`` of a robustness.json must equal (the
    leaderboard refuses a submitted summary that differs, and ``leaderboard validate`` checks stored ones).

    Raises KeyError, TypeError, ValueError or AttributeError on a document that is not in the shape
    :func:`run` writes."""
    return summary({**document, "families": _families(document["transforms"])})


# --------------------------------------------------------------------------------------------------
# Rendering


def _f(value: Any, digits: int = 3, signed: bool = False) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "n/a"
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def render_markdown(document: dict[str, Any], compact: bool = False) -> str:
    """``robustness.md``: per transform and split, TPR / FPR / F1 / AUC with deltas against clean and the
    invariance; then per family; ``compact`` gives the pooled table only (what the CLI prints)."""
    crit = document["criterion"]
    lines = [f"# Robustness: {document['model']} on {document['benchmark']['name']} "
             f"(suite {document['suite']['name']} {document['suite']['version']})", "",
             f"Threshold {document['threshold']}; 95 % bootstrap intervals ({document['n_bootstrap']} resamples). "
             f"Transforms run on the stored audio ({document['stored_sample_rate']} Hz) inside the model's clip "
             f"window ({document['model_clip']}). Invariance: |dP| = |P(fake) transformed - P(fake) clean| per "
             f"item; passes when mean <= {crit['mean_abs_dp']} and max <= {crit['max_abs_dp']} "
             f"({crit['source']}).", ""]
    head = "| transform | split | TPR | dTPR | FPR | dFPR | F1 | dF1 | AUC | dAUC | mean abs dP | max abs dP |"
    lines += [head, "|" + "---|" * 12]
    for s, st in document["clean"].items():
        lines.append(f"| clean | {s} | {_f(st['tpr']['value'])} | | {_f(st['fpr']['value'])} | | "
                     f"{_f(st['f1']['value'])} | | {_f(st['auc']['value'])} | | | |")
    for e in document["transforms"]:
        if e["status"] != RowStatus.OK:
            lines.append(f"| {e['name']} | skipped: {e['reason']} |" + " |" * 10)
            continue
        for s, st in e["splits"].items():
            d, inv = st["delta"], st["invariance"]
            lines.append(f"| {e['name']} | {s} | {_f(st['tpr']['value'])} | {_f(d['tpr'], signed=True)} | "
                         f"{_f(st['fpr']['value'])} | {_f(d['fpr'], signed=True)} | {_f(st['f1']['value'])} | "
                         f"{_f(d['f1'], signed=True)} | {_f(st['auc']['value'])} | {_f(d['auc'], signed=True)} | "
                         f"{_f(inv['mean_abs_dp'])} | {_f(inv['max_abs_dp'])} |")
    lines += ["", "| family | transforms | mean abs dP | max abs dP | invariant | worst TPR | worst FPR |",
              "|---|---|---|---|---|---|---|"]
    for family, f in document["families"].items():
        if not f.get("transforms"):
            continue
        lines.append(f"| {family} | {f['transforms']} | {_f(f['mean_abs_dp'])} | {_f(f['max_abs_dp'])} | "
                     f"{'yes' if f['passes_invariance'] else 'no'} | {_f(f['worst_tpr'])} | {_f(f['worst_fpr'])} |")
    if compact:
        return "\n".join(lines) + "\n"
    lines += ["", "## Per generator (delta TPR against clean)", ""]
    gens = sorted({g for st in document["clean"].values() for g in st["per_generator"]})
    lines += ["| transform | " + " | ".join(gens) + " |", "|---|" + "---|" * len(gens)]
    for e in document["transforms"]:
        if e["status"] != RowStatus.OK:
            continue
        cells = []
        for g in gens:
            found = [st["per_generator"][g]["delta_tpr"] for st in e["splits"].values() if g in st["per_generator"]]
            cells.append(_f(found[0], signed=True) if found else "")
        lines.append(f"| {e['name']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
