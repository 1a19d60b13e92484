"""The model card (README.md) of a detector shared on the Hugging Face Hub, made from its ``results.json``.

The card's YAML holds a ``model-index`` (the Hub's format for evaluation results, written with
huggingface_hub's ``ModelCardData`` and ``EvalResult``: https://huggingface.co/docs/hub/model-cards#evaluation-results)
so the Hub page shows the scores: one entry per evaluated split, task ``audio-classification``, the dataset named by
its benchmark, the split and, as its revision, the build's fingerprint (the content the scores were measured on),
and every metric of the registry that has a value. The body repeats them with their 95 % intervals.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mom_bench.core.formatting import md_code
from mom_bench.report.metrics import registry

TASK = "audio-classification"
TAGS = ["audio-classification", "ai-music-detection", "mom-bench"]
LIBRARY = "mom-bench"
#: Metric keys whose Hub metric id differs (https://huggingface.co/metrics: ``roc_auc``).
HUB_METRIC_IDS = {"auc": "roc_auc"}


def hub_metric_id(key: str) -> str:
    """The Hub's id of the registry metric ``key``.

    >>> hub_metric_id("auc"), hub_metric_id("f1")
    ('roc_auc', 'f1')
    """
    return HUB_METRIC_IDS.get(key, key)


def metric_key(hub_id: str) -> str:
    """The registry key of a Hub metric id (the inverse of :func:`hub_metric_id`)."""
    return {v: k for k, v in HUB_METRIC_IDS.items()}.get(hub_id, hub_id)


def eval_results(results: Mapping[str, Any], *, dataset_id: str | None = None,
                 source_url: str | None = None) -> list[Any]:
    """One ``huggingface_hub.EvalResult`` per split and metric with a value in ``results`` (a results.json)."""
    from huggingface_hub import EvalResult

    bench = results["benchmark"]
    report = results["metrics"]
    name = bench["name"] + (f" {bench['version']}" if bench.get("version") else "")
    out = []
    for split, split_report in report["splits"].items():
        overall = split_report["overall"]
        for metric in registry.all_metrics():
            stat = overall.get(metric.key)
            if not stat or stat.get("value") is None:
                continue  # undefined on this split (e.g. AUC without reals): the Hub takes numbers only
            out.append(EvalResult(
                task_type=TASK, task_name="AI-generated music detection",
                dataset_type=dataset_id or bench["name"], dataset_name=name, dataset_split=split,
                dataset_revision=bench["fingerprint"],
                metric_type=hub_metric_id(metric.key), metric_value=stat["value"], metric_name=metric.key,
                # threshold metrics depend on the decision threshold the report used
                metric_args={"threshold": report["threshold"]} if metric.counts is not None else None,
                source_name="mom-bench evaluate (results.json)" if source_url else None, source_url=source_url))
    return out


def render_model_card(results: Mapping[str, Any] | None, *, repo_id: str, config: Mapping[str, Any],
                      license: str, license_name: str | None = None, dataset_id: str | None = None,
                      source_url: str | None = None, license_note: str = "") -> str:
    """README.md of the detector ``config`` pushed to ``repo_id``; ``results`` (a results.json) gives its
    ``model-index``, or None for a card without scores."""
    from huggingface_hub import ModelCard, ModelCardData

    model_name = repo_id.split("/")[-1]
    data = ModelCardData(
        library_name=LIBRARY, tags=list(TAGS), license=license, license_name=license_name,
        pipeline_tag=TASK,
        datasets=[dataset_id] if dataset_id else None, model_name=model_name,
        eval_results=eval_results(results, dataset_id=dataset_id, source_url=source_url) if results else None)
    return str(ModelCard(f"---\n{data.to_yaml()}\n---\n\n{_body(results, repo_id, config, license_note)}"))


def _body(results: Mapping[str, Any] | None, repo_id: str, config: Mapping[str, Any], license_note: str) -> str:
    model = config.get("model", "?")
    lines = [f"# {repo_id.split('/')[-1]}", "",
             f"A detector of AI-generated music: mom-bench model {md_code(str(model))}, "
             f"{config.get('sample_rate')} Hz, clip policy {md_code(str(config.get('clip')))}. "
             "It returns one logit per song; P(fake) = sigmoid(logit).", "",
             "## Loading", "", "```python", "import mom_bench as mb",
             f'detector = mb.load_detector("{repo_id}@<commit>")  # pin the commit you checked',
             "```", ""]
    if results is None:
        lines += ["## Results", "", "No evaluation was published with this checkpoint.", ""]
    else:
        lines += _results_section(results)
    if license_note:
        lines += ["## Licence", "", license_note, ""]
    return "\n".join(lines)


def _results_section(results: Mapping[str, Any]) -> list[str]:
    bench, report, model = results["benchmark"], results["metrics"], results["model"]
    keys = [m.key for m in registry.all_metrics()
            if any((s["overall"].get(m.key) or {}).get("value") is not None for s in report["splits"].values())]
    lines = ["## Results", "",
             f"`mom-bench evaluate` on benchmark {md_code(bench['name'])} (version {bench.get('version') or 'n/a'}), "
             f"dataset fingerprint `{bench['fingerprint']}`, decision threshold {report['threshold']:g}, 95 % "
             f"bootstrap intervals ({report['n_bootstrap']} resamples). The weights scored have sha256 "
             f"`{model.get('checkpoint_sha256') or 'n/a'}`; `results.json` in this repository holds the full report.",
             "", "| split | n | " + " | ".join(keys) + " |", "|---|---|" + "---|" * len(keys)]
    for split, s in report["splits"].items():
        cells = []
        for key in keys:
            stat = s["overall"].get(key) or {}
            value, ci = stat.get("value"), stat.get("ci")
            cells.append("n/a" if value is None else f"{value:.3f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else ""))
        lines.append(f"| {split} | {s['n']} | " + " | ".join(cells) + " |")
    training = model.get("training") or {}
    if training.get("recipe"):
        lines += ["", f"Trained on {md_code(str(training.get('benchmark')))} (fingerprint "
                      f"`{training.get('dataset_fingerprint')}`), {training.get('epochs_done')} epochs, best epoch "
                      f"{training.get('best_epoch')} by validation F1."]
    return lines + [""]
