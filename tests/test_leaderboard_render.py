"""Rendering and validating the leaderboard folder: deterministic outputs, escaping, CI checks."""
from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import shutil

import pytest

from mom_bench.leaderboard import schema
from mom_bench.leaderboard.render import OUTPUTS, EntryError, load_entries, render
from mom_bench.leaderboard.submit import submit
from mom_bench.leaderboard.validate import validate_folder
from tests._fixtures_leaderboard import labels_frame, make_scores, valid_meta

REPORTED = {
    "schema_version": 1, "kind": "reported", "benchmark": "mom", "slug": "paper-row", "model_name": "Paper Model",
    "parameters": 5_000_000, "paper_url": "https://example.org/paper", "code_url": None,
    "citation": {"title": "A paper", "url": "https://example.org/paper"}, "source": "Table 1",
    "test_set": "the authors' own split", "notes": None, "recipe": "baselines/paper-model.yaml",
    "summary": {"f1": {"value": 0.91, "ci": None}, "f1_ood": {"value": 0.91, "ci": None},
                "per_generator": {"yue": {"f1": {"value": 0.7, "ci": None}}}},
}


@pytest.fixture(scope="module")
def data_dir(mom_build):
    return mom_build  # built once per session by the real builder (tests/conftest.py)


@pytest.fixture()
def root(tmp_path, data_dir):
    root = tmp_path / "lb"
    labels = labels_frame(data_dir)
    for seed, name in ((1, "First Model"), (2, "Second Model")):
        pred = tmp_path / f"p{seed}.csv"
        make_scores(labels, seed=seed).to_csv(pred, index=False)
        submit(pred, valid_meta(model_name=name), "mom", data_dir=data_dir, root=root, n_bootstrap=100)
    path = root / "entries" / "mom" / "paper-row.json"
    path.write_text(json.dumps(REPORTED, indent=2))
    return root


def _digests(folder):
    return {name: hashlib.sha256((folder / name).read_bytes()).hexdigest() for name in OUTPUTS}


def test_render_is_deterministic(root, tmp_path):
    render(root)
    first = _digests(root)
    # a copy of the entries elsewhere, rendered again later, gives byte-identical files
    other = tmp_path / "copy"
    shutil.copytree(root / "entries", other / "entries")
    render(other)
    assert _digests(other) == first
    render(root)
    assert _digests(root) == first
    png = (root / "per_generator_f1.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5_000


def test_rendered_tables(root):
    render(root)
    md = (root / "LEADERBOARD.md").read_text()
    boards = load_entries(root)
    ranked = boards["mom"]
    assert [e["kind"] for e in ranked] == ["reproduced", "reproduced", "reported"]
    best = ranked[0]
    f1 = best["summary"]["f1"]
    ci = f1["ci"]
    assert f"| 1 | {best['model_name']} | reproduced | {f1['value']:.3f} | [{ci[0]:.3f}, {ci[1]:.3f}] |" in md
    assert "| Paper Model (test set 1) | reported | 0.910 |" in md.replace("|  | Paper", "| Paper")
    assert "1. the authors' own split" in md

    rows = list(csv.DictReader(io.StringIO((root / "leaderboard.csv").read_text())))
    assert [r["slug"] for r in rows] == [e["slug"] for e in ranked]
    assert rows[0]["rank"] == "1" and rows[2]["rank"] == "" and rows[2]["kind"] == "reported"
    assert float(rows[0]["f1"]) == pytest.approx(f1["value"], abs=1e-6)
    assert float(rows[2]["f1[yue]"]) == 0.7

    page = (root / "index.html").read_text()
    # no external assets: nothing the browser would fetch by itself
    assert re.findall(r"<(?:script|link|img|iframe|object|embed|source)\b[^>]*\b(?:src|href)\s*=", page) == []
    assert page.count('<tr class="reproduced"') == 4 and page.count('<tr class="reported"') == 2  # board + heatmap
    assert "Content-Security-Policy" in page and "default-src 'none'" in page


def test_entry_text_is_escaped(root):
    path = root / "entries" / "mom" / "paper-row.json"
    entry = json.loads(path.read_text())
    entry["model_name"] = '<img src=x onerror="alert(1)">'
    entry["test_set"] = "</td><script>alert(2)</script>"
    path.write_text(json.dumps(entry))
    render(root)
    page = (root / "index.html").read_text()
    assert "<img src=x" not in page and "<script>alert(2)" not in page
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in page


def test_invalid_entries_are_refused_all_at_once(root):
    bad = dict(REPORTED, slug="other", summary={"f1": {"value": "high"}})
    (root / "entries" / "mom" / "other.json").write_text(json.dumps(bad))
    (root / "entries" / "mom" / "moved.json").write_text(json.dumps(dict(REPORTED)))
    (root / "entries" / "mom" / "broken.json").write_text("{")
    with pytest.raises(EntryError) as err:
        render(root)
    text = "\n".join(err.value.problems)
    assert "other.json: /summary/f1/value: expected number or null" in text
    assert "moved.json: slug 'paper-row' does not match its file name 'moved'" in text
    assert "broken.json: not valid JSON" in text


def test_validate_recomputes_and_catches_tampering(root, data_dir):
    render(root)
    result = validate_folder(root, data_dirs={"mom": data_dir}, baselines_dir=None)
    assert result.ok, result.problems
    assert sum("re-scored from" in n and "identical" in n for n in result.notes) == 2

    entry_path = root / "entries" / "mom" / "first-model.json"
    pred_path = root / "entries" / "mom" / "first-model.predictions.csv"
    original_entry, original_pred = entry_path.read_text(), pred_path.read_text()

    # a hand-edited headline number
    entry = json.loads(original_entry)
    entry["summary"]["f1"]["value"] = 0.999
    entry_path.write_text(json.dumps(entry, indent=2))
    problems = validate_folder(root, data_dirs={"mom": data_dir}).problems
    assert any("summary does not match its report" in p for p in problems)

    # a report edited together with its summary: caught by re-scoring the stored predictions
    entry = json.loads(original_entry)
    entry["report"]["splits"]["test_ood"]["overall"]["f1"]["value"] = 0.999
    entry_path.write_text(json.dumps(entry, indent=2))
    problems = validate_folder(root, data_dirs={"mom": data_dir}, check_rendered=False).problems
    assert any("re-scoring the stored predictions gives a different report" in p for p in problems), problems

    # stored predictions swapped after scoring
    entry_path.write_text(original_entry)
    pred_path.write_text(original_pred.replace("0.", "0.0", 1))
    assert any("does not match the entry's" in p for p in validate_folder(root, data_dirs={"mom": data_dir}).problems)
    pred_path.write_text(original_pred)

    # stale rendering, stray files, duplicates
    (root / "entries" / "mom" / "notes.txt").write_text("hello")
    shutil.copy(entry_path, root / "entries" / "mom" / "copy.json")
    copy = json.loads(entry_path.read_text())
    copy["slug"] = "copy"
    copy["predictions"]["stored"] = None
    (root / "entries" / "mom" / "copy.json").write_text(json.dumps(copy))
    problems = validate_folder(root, data_dirs={"mom": data_dir}).problems
    text = "\n".join(problems)
    assert "notes.txt: unexpected file" in text
    assert "model name 'First Model' is already used" in text and "the same predictions file as" in text
    (root / "entries" / "mom" / "notes.txt").unlink()
    (root / "entries" / "mom" / "copy.json").unlink()
    (root / "LEADERBOARD.md").write_text("old\n")
    assert any("LEADERBOARD.md: out of date" in p for p in validate_folder(root, data_dirs={"mom": data_dir}).problems)


def test_validate_without_the_dataset_says_what_it_skipped(root, tmp_path):
    render(root)
    result = validate_folder(root, data_dirs={"mom": tmp_path / "nowhere"})
    assert result.ok, result.problems
    assert any("not re-scored" in n for n in result.notes)


def test_schemas_use_only_what_the_validator_enforces():
    for name, sch in schema.SCHEMAS.items():
        assert schema.unsupported_keywords(sch) == [], name
    assert schema.validate({"id": "a", "score": 0.5}, schema.PREDICTION_ROW) == []
    assert schema.validate({"id": "a", "score": 1.5}, schema.PREDICTION_ROW) == ["/score: 1.5 is above the maximum 1"]
    assert schema.validate({"id": "a", "score": float("nan")}, schema.PREDICTION_ROW) == [
        "/score: nan is not a finite number"]
