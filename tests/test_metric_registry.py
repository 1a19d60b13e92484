"""The metric registry: a metric declared in one place (here, a fixture) shows in results.json, results.md and
the leaderboard's Markdown, CSV and HTML, and registering it changes no other number."""
from __future__ import annotations

import csv
import io
import json

import numpy as np
import pandas as pd
import pytest
import yaml

from mom_bench.leaderboard import render
from mom_bench.leaderboard.submit import submit
from mom_bench.loop import evaluation as E
from mom_bench.report import metrics
from mom_bench.report.metrics import registry
from mom_bench.report.metrics import schema as results_schema
from tests._fixtures_leaderboard import BENCHMARK, labels_frame, make_scores, valid_meta
from tests.test_documents import predictions_frame


def score_gap(labels: np.ndarray, scores: np.ndarray) -> float | None:
    """Mean score of the fakes minus mean score of the reals (a test-only metric of the scores)."""
    labels, scores = np.asarray(labels), np.asarray(scores, dtype=float)
    if not (labels == 1).any() or not (labels == 0).any():
        return None
    return float(scores[labels == 1].mean() - scores[labels == 0].mean())


SCORE_GAP = registry.Metric(
    "score_gap", "mean score of the fakes minus mean score of the reals", scores=score_gap,
    split_table="score gap",
    board=registry.BoardColumn("score_gap", "Score gap", "mean fake score minus mean real score over every test item",
                               ("overall", "score_gap"), title="mean P(fake) of fakes minus that of reals"))


@pytest.fixture()
def test_metric():
    """The one place the test metric is declared: registered for the test, unregistered after it."""
    with registry.registered(SCORE_GAP) as metric:
        yield metric
    assert "score_gap" not in {m.key for m in registry.all_metrics()}


def _expected_gap(frame: pd.DataFrame) -> float:
    return float(frame.loc[frame["label"] == 1, "score"].mean() - frame.loc[frame["label"] == 0, "score"].mean())


def test_a_registered_metric_reaches_results_json_and_results_md(test_metric, tmp_path, loop_benchmark, loop_run):
    out = tmp_path / "results"
    result = E.evaluate("clam-tiny", loop_run / "best", loop_benchmark, out_dir=out, n_bootstrap=50, progress=False,
                        plots=False)
    doc = json.loads((out / "results.json").read_text(encoding="utf-8"))
    results_schema.check_results(doc)  # the schema follows the registry: the new block is valid
    predictions = pd.read_csv(out / "predictions.csv")
    for split, report in doc["metrics"]["splits"].items():
        gap = report["overall"]["score_gap"]
        assert gap["value"] == pytest.approx(_expected_gap(predictions[predictions["split"] == split]))
        assert len(gap["ci"]) == 2
    assert list(doc["metrics"]["splits"]["test_id"]["overall"])[-1] == "score_gap"  # after the built-in ones
    assert doc["metrics"]["definitions"]["score_gap"] == SCORE_GAP.definition

    text = (out / "results.md").read_text(encoding="utf-8")
    assert "| EER | score gap |" in text  # the overall table's last column
    gap = doc["metrics"]["splits"]["test_id"]["overall"]["score_gap"]
    assert f"{gap['value']:.3f} [{gap['ci'][0]:.3f}, {gap['ci'][1]:.3f}] |" in text
    assert f"- **score_gap**: {SCORE_GAP.definition}" in text
    assert "score gap" in result.summary()  # the terminal's table too


def test_a_registered_metric_reaches_every_leaderboard_output(test_metric, tmp_path, mom_build):
    scores = make_scores(labels_frame(mom_build))
    pred = tmp_path / "preds.csv"
    scores.to_csv(pred, index=False)
    meta = tmp_path / "meta.yaml"
    meta.write_text(yaml.safe_dump(valid_meta()))
    path = submit(pred, meta, BENCHMARK, data_dir=mom_build, root=tmp_path / "lb", n_bootstrap=50)
    entry = json.loads(path.read_text(encoding="utf-8"))
    value = entry["summary"]["score_gap"]["value"]
    assert value == pytest.approx(_expected_gap(labels_frame(mom_build).merge(scores, on="id")))

    texts = render.render_texts(render.load_entries(tmp_path / "lb"))
    board = texts["LEADERBOARD.md"]
    header = next(line for line in board.splitlines() if line.startswith("| # |"))
    row = next(line for line in board.splitlines() if line.startswith("| 1 | Test Detector"))
    cells = [c.strip() for c in header.strip("|").split("|")]
    assert cells[cells.index("EER") + 1] == "Score gap"
    assert [c.strip() for c in row.strip("|").split("|")][cells.index("Score gap")] == f"{value:.3f}"

    (csv_row,) = csv.DictReader(io.StringIO(texts["leaderboard.csv"]))
    assert float(csv_row["score_gap"]) == pytest.approx(value, abs=1e-6)

    page = texts["index.html"]
    assert 'data-key="score_gap"' in page and ">Score gap</th>" in page
    assert f'<td data-sort="{round(value, 6)!r}">{value:.3f}</td>' in page


def test_registering_a_metric_changes_no_other_number():
    """The new metric's intervals draw from a generator of their own: every other interval stays as it was."""
    frame = predictions_frame()
    before = metrics.compute_report(frame, n_bootstrap=100, seed=0)
    npv = registry.Metric("npv", "TN / (TN + FN)", counts=lambda tp, fp, tn, fn: tn / np.where(tn + fn > 0, tn + fn,
                                                                                              np.nan))
    with registry.registered(SCORE_GAP), registry.registered(npv):
        after = metrics.compute_report(frame, n_bootstrap=100, seed=0)
    for split, report in after["splits"].items():
        gap, value = report["overall"].pop("score_gap"), report["overall"].pop("npv")
        rows = frame[frame["split"] == split]
        if rows["label"].nunique() == 2:
            assert gap["value"] == pytest.approx(_expected_gap(rows))
        else:  # one class only: undefined, and said why
            assert gap["value"] is None and gap["reason"]
        assert value["ci"] is None or len(value["ci"]) == 2
    for definitions in (after["definitions"], before["definitions"]):
        definitions.pop("score_gap", None)
        definitions.pop("npv", None)
    assert after == before
    assert "npv" not in metrics.compute_report(frame, n_bootstrap=10)["splits"]["test_id"]["overall"]


def test_a_metric_is_declared_once():
    assert (registry.get("f1").ci, registry.get("auc").ci) == ("binomial", "rows")
    assert [c.key for c in registry.board_columns()] == ["f1_id", "f1_ood", "precision", "recall", "specificity",
                                                         "accuracy", "auc", "eer"]
    with pytest.raises(metrics.MetricsError, match="already registered"):
        registry.register(registry.Metric("eer", "again", scores=score_gap))
    with pytest.raises(metrics.MetricsError, match="built-in"):
        registry.unregister("f1")
    with pytest.raises(metrics.MetricsError, match="exactly one"):
        registry.Metric("both", "x", counts=lambda *c: c[0], scores=score_gap)
