"""Leaderboard entries carry TPR at 1 % FPR, the false-positive rate of each real source and, when the
submitter ran a robustness suite, its summary as the submitter's claim; every output shows them, escaped
for its medium, and the schema bounds them (issue 12 item 4).

The benchmark is built by the real builder and poses as ``mom`` (as in tests/_fixtures_leaderboard.py), with
two real sources, so the per-source rates differ. The robustness run is a real ``evaluate_robustness`` of a
tiny detector whose P(fake) follows the clip's loudness (two transforms: one codec round trip, one gain).
"""
from __future__ import annotations

import copy
import csv
import hashlib
import io
import json
import math
import os
import shutil

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import roc_curve

from mom_bench.dataset import protocols
from mom_bench.leaderboard import schema
from mom_bench.leaderboard.render import EntryError, load_entries, render
from mom_bench.leaderboard.scoring import summarise
from mom_bench.leaderboard.submit import SubmissionRejected, entry_from_evaluation, rescore, submit
from mom_bench.leaderboard.validate import validate_folder
from mom_bench.report.metrics import compute_report
from tests._build_fixtures import build_listed, write_audio
from tests._fixtures_leaderboard import labels_frame, make_scores, mom_protocol, valid_meta
from tests.test_leaderboard_browser import CHROMIUM, browser  # noqa: F401  (browser: the headless Chromium fixture)

RATE = 16000
SECONDS = 0.25
SONGS, COVERS = (r.id for r in protocols.load("mom").reals)  # real_songs, real_yt_covers
# split -> (generator, real source or None) -> rows
LAYOUT = {
    "train": {("real", SONGS): 2, ("real", COVERS): 2, ("suno_3.5", None): 3, ("udio_1.5", None): 3},
    "test_id": {("real", SONGS): 6, ("real", COVERS): 6, ("suno_3.5", None): 5, ("udio_1.5", None): 5},
    "test_ood": {("real", SONGS): 5, ("real", COVERS): 5, ("riffusion", None): 4, ("yue", None): 4,
                 ("suno_4", None): 2},
}
HOSTILE = '=HYPERLINK("http://x.example")<script>alert(1)</script>|*_`[x](http://y.example)'


def _build(folder):
    rows, i = [], 0
    for split, groups in LAYOUT.items():
        for (gen, source), n in groups.items():
            for k in range(n):
                i += 1
                t = torch.arange(int(RATE * SECONDS)) / RATE
                level = 0.05 + 0.4 * ((i * 7) % 11) / 10  # loudness varies, so the loudness detector errs both ways
                x = level * torch.sin(2 * math.pi * (100 + 13 * i) * t)
                row_id = f"{split}-{gen}-{source or 'fake'}-{k:03d}"
                write_audio(folder / f"audio/{row_id}.flac", x, RATE)
                rows.append({"id": row_id, "label": int(gen != "real"), "generator": gen, "source": source or gen,
                             "path": f"audio/{row_id}.flac", "split": split})
    return build_listed(folder, mom_protocol(), rows, out_name="mom").out_dir


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return _build(tmp_path_factory.mktemp("two_sources"))


def _test_rows(data_dir) -> pd.DataFrame:
    """id, split, generator, label, source of the test rows, read from the build's row list (not through the
    code under test)."""
    report = json.loads((data_dir / "build_report.json").read_text())
    rows = [r for r in report["rows"] if r["status"] == "written" and r["split"].startswith("test")]
    return pd.DataFrame(rows)[["id", "split", "generator", "label", "source"]]


def _scores(rows: pd.DataFrame) -> pd.DataFrame:
    """Covers are called fake far more often than songs: 4 of 11 covers, 1 of 11 songs; fakes spread out."""
    score = np.empty(len(rows))
    songs = covers = fakes = 0
    for i, (label, source) in enumerate(zip(rows["label"], rows["source"])):
        if label == 1:
            score[i] = 0.30 + 0.69 * ((fakes * 37) % 20) / 19
            fakes += 1
        elif source == COVERS:
            score[i] = 0.80 + 0.01 * covers if covers < 4 else 0.05 + 0.01 * covers
            covers += 1
        else:
            score[i] = 0.70 if songs == 0 else 0.02 + 0.01 * songs
            songs += 1
    return pd.DataFrame({"id": rows["id"], "score": score})


@pytest.mark.slow  # a build of its own (two real sources)
def test_entry_carries_tpr_at_1pct_fpr_and_per_source_fpr(data_dir, tmp_path):
    """issue 12 item 4: an entry of a build with two real sources carries the FPR of each and TPR@1%FPR."""
    rows = _test_rows(data_dir)
    scores = _scores(rows)
    pred = tmp_path / "preds.csv"
    scores.to_csv(pred, index=False)
    root = tmp_path / "lb"
    entry = json.loads(submit(pred, valid_meta(), "mom", data_dir=data_dir, root=root, n_bootstrap=50).read_text())
    assert schema.validate(entry, schema.ENTRY_REPRODUCED) == []
    s = entry["summary"]

    reals = rows.merge(scores, on="id").query("label == 0")
    for source in (SONGS, COVERS):
        mine = reals[reals["source"] == source]
        got = s["fpr_by_source"][source]
        assert (got["n_real"], got["n_called_fake"]) == (len(mine), int((mine["score"] >= 0.5).sum()))
        assert got["fpr"]["value"] == pytest.approx((mine["score"] >= 0.5).mean())
    assert (s["fpr_by_source"][SONGS]["n_called_fake"], s["fpr_by_source"][COVERS]["n_called_fake"]) == (1, 4)
    worst = s["worst_source_fpr"]
    assert (worst["source"], worst["n_called_fake"], worst["n_real"]) == (COVERS, 4, 11)
    assert worst["value"] == pytest.approx(4 / 11)
    assert entry["report_all_tests"]["false_positive_rates"]["test"]["by_source"][COVERS]["n_called_fake"] == 4

    # TPR at 1 % FPR on the pooled ROC curve, as sklearn draws it: interpolated between the two points around 1 %
    both = rows.merge(scores, on="id")
    fpr, tpr, _ = roc_curve(both["label"], both["score"], drop_intermediate=False)
    assert s["tpr_at_1pct_fpr"]["value"] == pytest.approx(float(np.interp(0.01, fpr, tpr)))
    assert s["tpr_at_1pct_fpr"]["n_real"] == 22 and s["tpr_at_1pct_fpr"]["resolvable"] is False

    # the split reports do not depend on the source column, so `evaluate --submit` still reproduces evaluate's
    plain = compute_report(both.drop(columns="source").merge(_durations(data_dir), on="id"), n_bootstrap=50, seed=0)
    assert entry["report"]["splits"] == json.loads(json.dumps(plain["splits"]))

    render(root)
    md = (root / "LEADERBOARD.md").read_text()
    assert "| TPR@1%FPR | Worst source FPR |" in md
    assert f"| {s['tpr_at_1pct_fpr']['value']:.3f}\\* | 0.364 (real\\_yt\\_covers, 4/11) |" in md
    row = next(csv.DictReader(io.StringIO((root / "leaderboard.csv").read_text())))
    assert (row["worst_source"], row["worst_source_n_called_fake"], row["tpr_at_1pct_fpr_resolvable"]) == (
        COVERS, "4", "false")
    assert float(row["tpr_at_1pct_fpr"]) == pytest.approx(s["tpr_at_1pct_fpr"]["value"], abs=1e-6)
    page = (root / "index.html").read_text()
    assert 'data-key="tpr_at_1pct_fpr" data-type="num" aria-sort="none"' in page
    assert 'data-key="worst_source_fpr" data-type="num" aria-sort="none"' in page
    assert f"{SONGS}: 0.091 (1/11 reals called fake)" in page  # every source in the cell's tooltip
    assert validate_folder(root, data_dirs={"mom": data_dir}).ok


def _durations(data_dir) -> pd.DataFrame:
    import pyarrow.parquet as pq

    return pd.concat([pq.read_table(p, columns=["id", "duration_s"]).to_pandas()
                      for p in sorted((data_dir / "data").glob("test_*.parquet"))], ignore_index=True)


def test_tpr_at_1pct_fpr_is_resolvable_with_100_test_reals():
    """issue 12 item 4: with at least 1 / 0.01 test reals the 1 % budget is resolved, and the summary says so."""
    rng = np.random.default_rng(3)
    n_real, n_fake = 120, 60
    df = pd.DataFrame({"id": [f"r{i}" for i in range(n_real)] + [f"f{i}" for i in range(n_fake)],
                       "split": "test_id", "generator": ["real"] * n_real + ["suno_4"] * n_fake,
                       "label": [0] * n_real + [1] * n_fake,
                       "score": np.r_[rng.uniform(0, 0.6, n_real), rng.uniform(0.3, 1, n_fake)]})
    report = compute_report(df, n_bootstrap=20)
    pooled = compute_report(df.assign(split="test"), n_bootstrap=20)
    point = summarise(report, pooled)["tpr_at_1pct_fpr"]
    assert point["resolvable"] is True and point["n_real"] == 120 and point["min_reals"] == 100
    fpr, tpr, _ = roc_curve(df["label"], df["score"], drop_intermediate=False)
    assert point["value"] == pytest.approx(float(np.interp(0.01, fpr, tpr)))
    # a report without the source column gives no per-source rates, rather than a made-up one
    assert "fpr_by_source" not in summarise(report, pooled)


# --------------------------------------------------------------------------------------------------
# robustness: the submitter's claim


class Loudness(torch.nn.Module):
    """P(fake) rises with the clip's RMS level, so a gain transform moves every score."""

    sample_rate = 16000

    def __init__(self):
        super().__init__()
        from mom_bench.core.audio import parse_clip

        self.clip = parse_clip("first:2")

    def forward(self, wave):
        return torch.log2(wave.pow(2).mean(dim=-1).sqrt().clamp_min(1e-6) / 0.04)


@pytest.fixture(scope="module")
def robust_results(data_dir, tmp_path_factory):
    """A results folder of `evaluate --robustness` (real run, two transforms, no clip sweep)."""
    from mom_bench.loop.robustness import evaluate_robustness

    out = tmp_path_factory.mktemp("robust") / "results"
    clean, robust = evaluate_robustness(Loudness(), data_dir=data_dir, out_dir=out, transforms=["mp3_64k", "gain_+6db"],
                                        clips=False, n_bootstrap=30, seed=5, progress=False, plots=False)
    return clean.out_dir


def _meta():
    meta = valid_meta(model_name="Loudness Detector")
    meta.pop("benchmark_version")
    return meta


def _copy(results, tmp_path, **summary_changes):
    folder = tmp_path / "results"
    shutil.copytree(results, folder)
    if summary_changes:
        path = folder / "robustness" / "robustness.json"
        doc = json.loads(path.read_text())
        doc["summary"].update(summary_changes)
        path.write_text(json.dumps(doc))
    return folder


@pytest.mark.slow
def test_robustness_summary_goes_into_the_entry_and_every_output(robust_results, data_dir, tmp_path):
    """issue 12 item 4: an evaluate results folder with a robustness/ summary gives an entry with the
    robustness object, kept by rescore and shown, marked as the submitter's claim, in all three outputs."""
    doc = json.loads((robust_results / "robustness" / "robustness.json").read_text())
    root = tmp_path / "lb"
    path = entry_from_evaluation(robust_results, _meta(), root=root, data_dir=data_dir)
    entry = json.loads(path.read_text())
    claim = entry["robustness"]
    assert claim["reported_by"] == "submitter" and len(claim["file_sha256"]) == 64
    assert {k: v for k, v in claim.items() if k not in ("reported_by", "file_sha256", "stored")} == doc["summary"]
    assert claim["stored"] == "loudness-detector.robustness.json"  # the document itself, beside the entry
    assert claim["suite"] == "standard@1.0.0" and claim["transforms"] == 2
    assert claim["codec_worst_tpr"] is not None and claim["most_harmful"] in ("mp3_64k", "gain_+6db", None)
    assert schema.validate(entry, schema.ENTRY_REPRODUCED) == []

    assert rescore("mom", data_dir, root) == [path]
    assert json.loads(path.read_text())["robustness"] == claim

    render(root)
    md = (root / "LEADERBOARD.md").read_text()
    assert "| Codec worst TPR | Codec mean \\|dP\\| | Codec invariant |" in md
    assert "robustness: reported by the submitter's run, suite standard@1.0.0" in md
    assert f"| {claim['codec_worst_tpr']:.3f} | {claim['codec_mean_abs_dp']:.3f} | " \
           f"{'yes' if claim['codec_invariant'] else 'no'} |" in md
    row = next(csv.DictReader(io.StringIO((root / "leaderboard.csv").read_text())))
    assert (row["robustness_reported_by"], row["robustness_suite"]) == ("submitter", "standard@1.0.0")
    assert float(row["codec_mean_abs_dp"]) == pytest.approx(claim["codec_mean_abs_dp"], abs=1e-6)
    assert row["codec_invariant"] == str(claim["codec_invariant"]).lower()
    page = (root / "index.html").read_text()
    for key in ("codec_worst_tpr", "codec_mean_abs_dp", "codec_invariant"):
        assert f'data-key="{key}" data-type="num" aria-sort="none"' in page
    assert "robustness: reported by the submitter&#x27;s run, suite standard@1.0.0" in page
    result = validate_folder(root, data_dirs={"mom": data_dir})
    assert result.ok, result.problems


def _rename_most_harmful(folder, name):
    """Give the document's most harmful transform another name, in its transform rows and its summary alike
    (the summary must stay the one recomputed from the rows)."""
    path = folder / "robustness" / "robustness.json"
    doc = json.loads(path.read_text())
    old = doc["summary"]["most_harmful"]
    assert old is not None
    for row in doc["transforms"]:
        if row["name"] == old:
            row["name"] = name
    doc["summary"]["most_harmful"] = name
    path.write_text(json.dumps(doc))


@pytest.mark.slow
def test_hostile_transform_name_is_escaped_everywhere(robust_results, data_dir, tmp_path):
    """issue 12 item 4: a most_harmful name made of HTML, Markdown and a spreadsheet formula stays text."""
    folder = _copy(robust_results, tmp_path)
    _rename_most_harmful(folder, HOSTILE)
    root = tmp_path / "lb"
    entry_from_evaluation(folder, _meta(), root=root, data_dir=data_dir)
    render(root)
    page = (root / "index.html").read_text()
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    md = (root / "LEADERBOARD.md").read_text()
    line = next(x for x in md.splitlines() if "most harmful transform" in x)
    # inert: a code span fenced with more backticks than the name holds, its pipe escaped for the table syntax
    assert "most harmful transform ``" + HOSTILE.replace("|", "\\|") + "`` (TPR " in line
    assert md.count("<script>") == 1  # only there, inside the code span
    row = next(csv.DictReader(io.StringIO((root / "leaderboard.csv").read_text())))
    assert row["most_harmful"] == "'" + HOSTILE  # the formula guard


@pytest.mark.slow
@pytest.mark.parametrize("change, message", [
    ({"codec_worst_tpr": 1.5}, "/codec_worst_tpr: 1.5 is above the maximum 1"),
    ({"codec_mean_abs_dp": -0.1}, "/codec_mean_abs_dp: -0.1 is below the minimum 0"),
    ({"most_harmful_delta_tpr": -2}, "/most_harmful_delta_tpr: -2 is below the minimum -1"),
    ({"most_harmful": "mp3\n<b>"}, "/most_harmful: 'mp3\\n<b>' is not valid"),
    ({"codec_invariant": "yes"}, "/codec_invariant: expected boolean or null"),
])
def test_out_of_range_robustness_claim_is_refused_before_anything_is_written(robust_results, data_dir, tmp_path,
                                                                              change, message):
    """issue 12 item 4: the robustness numbers are bounded where they enter, the file named, nothing written."""
    folder = _copy(robust_results, tmp_path, **change)
    root = tmp_path / "lb"
    with pytest.raises(SubmissionRejected) as err:
        entry_from_evaluation(folder, _meta(), root=root, data_dir=data_dir)
    assert str(folder / "robustness" / "robustness.json") in str(err.value) and message in str(err.value)
    assert not (root / "entries").exists()


@pytest.mark.slow
def test_robustness_of_another_run_is_refused(robust_results, data_dir, tmp_path):
    """issue 12 item 4: a robustness.json whose clean numbers are not those of predictions.csv is not this run's."""
    folder = _copy(robust_results, tmp_path)
    path = folder / "robustness" / "robustness.json"
    doc = json.loads(path.read_text())
    doc["clean"]["test_ood"]["tpr"]["value"] = 0.123
    path.write_text(json.dumps(doc))
    with pytest.raises(SubmissionRejected, match="clean tpr on test_ood .* is not the .* scored from predictions.csv"):
        entry_from_evaluation(folder, _meta(), root=tmp_path / "lb", data_dir=data_dir)
    doc["clean"]["test_ood"]["tpr"] = json.loads((robust_results / "robustness" / "robustness.json").read_text())[
        "clean"]["test_ood"]["tpr"]
    doc["benchmark"]["fingerprint"] = "0" * 64
    path.write_text(json.dumps(doc))
    with pytest.raises(SubmissionRejected, match="not on this build of mom"):
        entry_from_evaluation(folder, _meta(), root=tmp_path / "lb", data_dir=data_dir)
    assert not (tmp_path / "lb" / "entries").exists()


# --------------------------------------------------------------------------------------------------
# robustness: the claim must be the summary recomputed from its document (issue 26 item 3)


def _lie(doc: dict, lie: str) -> dict:
    """``doc`` (a robustness.json) with its summary telling one of the lies of issue 26 item 3."""
    doc = copy.deepcopy(doc)
    s = doc["summary"]
    if lie == "invariant":  # the criterion's verdict with a mean |dP| far above its 0.15
        s.update(codec_invariant=True, codec_mean_abs_dp=0.9)
    elif lie == "max_below_mean":
        s["codec_max_abs_dp"] = s["codec_mean_abs_dp"] / 2
    else:  # transforms counted that the document does not hold
        doc["transforms"] = []
        s["transforms"] = 24
    return doc


#: lie -> (field named in the refusal, the claimed value as the message spells it or None)
_LIES = {"invariant": ("codec_mean_abs_dp", "0.9"), "max_below_mean": ("codec_max_abs_dp", None),
         "transforms": ("transforms", "24")}


def _cli(*args):
    from click.testing import CliRunner

    from mom_bench.cli import main

    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.mark.slow
@pytest.mark.parametrize("lie", sorted(_LIES))
def test_submit_refuses_a_robustness_summary_its_document_does_not_give(robust_results, data_dir, tmp_path, lie):
    """issue 26 item 3: `mom-bench submit` recomputes the robustness summary from the submitted robustness.json
    with the function evaluate used; a summary that differs is refused, naming the field, the claimed and the
    recomputed value, and nothing is written."""
    folder = _copy(robust_results, tmp_path)
    path = folder / "robustness" / "robustness.json"
    doc = json.loads(path.read_text())
    path.write_text(json.dumps(_lie(doc, lie)))
    meta = tmp_path / "meta.json"
    meta.write_text(json.dumps(_meta()))
    root = tmp_path / "lb"
    result = _cli("submit", folder, "--meta", meta, "--data", data_dir, "--root", root, "--n-bootstrap", 30)
    assert result.exit_code != 0, result.output
    field, claimed = _LIES[lie]
    truth = 0 if lie == "transforms" else doc["summary"][field]  # the forged document holds no transform
    line = next((x for x in result.output.splitlines() if f"summary/{field}: claimed" in x), None)
    assert line is not None, result.output
    assert str(path) in line and f"recomputed from the document's transforms is {json.dumps(truth)}" in line
    if claimed is not None:
        assert f"claimed {claimed}," in line
    assert not (root / "entries").exists()
    # the genuine document goes in
    path.write_text(json.dumps(doc))
    assert _cli("submit", folder, "--meta", meta, "--data", data_dir, "--root", root, "--n-bootstrap", 30
                ).exit_code == 0


@pytest.mark.slow
@pytest.mark.parametrize("lie", sorted(_LIES))
def test_validate_recomputes_a_stored_robustness_summary(robust_results, data_dir, tmp_path, lie):
    """issue 26 item 3: the robustness.json goes beside the entry, and `mom-bench leaderboard validate`
    recomputes the summary from it: an entry whose summary was edited on disk (for the empty transform list,
    the stored document too, with its sha256 updated) is a problem naming the entry and the field."""
    root = tmp_path / "lb"
    path = entry_from_evaluation(robust_results, _meta(), root=root, data_dir=data_dir)
    entry = json.loads(path.read_text())
    stored = path.with_name(entry["robustness"]["stored"])
    assert stored.read_bytes() == (robust_results / "robustness" / "robustness.json").read_bytes()
    render(root)
    args = ("leaderboard", "validate", "--root", root, "--data", f"mom={data_dir}", "--baselines", tmp_path / "none")
    ok = _cli(*args)
    assert ok.exit_code == 0 and "recomputed from" in ok.output, ok.output

    lied = _lie(json.loads(stored.read_text()), lie)
    if lie == "transforms":  # a consistent forgery of the stored document: its hash follows it
        stored.write_text(json.dumps(lied))
        entry["robustness"]["file_sha256"] = hashlib.sha256(stored.read_bytes()).hexdigest()
    entry["robustness"].update({k: lied["summary"][k] for k in entry["robustness"] if k in lied["summary"]})
    path.write_text(json.dumps(entry, indent=2))
    render(root)  # the pages follow the edited entry: only the claim itself is wrong
    result = _cli(*args)
    assert result.exit_code == 1, result.output
    field, claimed = _LIES[lie]
    problems = [x for x in result.output.splitlines() if x.startswith("problem:")]
    assert any(str(path) in x and f"summary/{field}: claimed" in x for x in problems), result.output
    if claimed is not None:
        assert any(f"summary/{field}: claimed {claimed}," in x for x in problems), result.output


@pytest.mark.slow
def test_validate_wants_the_stored_robustness_document(robust_results, data_dir, tmp_path):
    """issue 26 item 3: a claim without its stored document, a document edited after the entry (its sha256) and
    a document no entry refers to are problems; the claim cannot be recomputed without it."""
    root = tmp_path / "lb"
    path = entry_from_evaluation(robust_results, _meta(), root=root, data_dir=data_dir)
    entry = json.loads(path.read_text())
    stored = path.with_name(entry["robustness"]["stored"])
    text = stored.read_text()
    stored.write_text(text + " ")
    problems = validate_folder(root, data_dirs={"mom": data_dir}, check_rendered=False).problems
    assert any(str(stored) in p and "does not match the entry's robustness file_sha256" in p for p in problems)
    stored.unlink()  # gone, or a FIFO planted in its place: a problem, never a hang
    os.mkfifo(stored)
    problems = validate_folder(root, data_dirs={"mom": data_dir}, check_rendered=False).problems
    assert any(str(path) in p and f"{stored.name} is missing or unusable" in p for p in problems), problems
    stored.unlink()
    stored.write_text(text)
    del entry["robustness"]["stored"]
    path.write_text(json.dumps(entry, indent=2))
    problems = validate_folder(root, data_dirs={"mom": data_dir}, check_rendered=False).problems
    assert any(str(path) in p and "no stored robustness.json" in p for p in problems), problems
    assert any(str(stored) in p and "no entry refers to" in p for p in problems), problems


# --------------------------------------------------------------------------------------------------
# the schema


def _claim(**changes):
    claim = {"reported_by": "submitter", "file_sha256": "a" * 64, "suite": "standard@1.0.0", "transforms": 25,
             "codec_worst_tpr": 0.4, "codec_worst_fpr": 0.2, "codec_mean_abs_dp": 0.1, "codec_max_abs_dp": 0.5,
             "codec_invariant": False, "most_harmful": "mp3_32k", "most_harmful_delta_tpr": -0.3}
    claim.update(changes)
    return claim


def test_schema_bounds_the_new_values():
    """issue 12 item 4: the schema refuses out-of-range robustness numbers and operating points."""
    assert schema.validate(_claim(), schema.ROBUSTNESS) == []
    assert schema.validate(_claim(codec_worst_tpr=None, most_harmful=None, codec_invariant=None),
                           schema.ROBUSTNESS) == []
    assert schema.validate(_claim(codec_worst_fpr=1.01), schema.ROBUSTNESS) == [
        "/codec_worst_fpr: 1.01 is above the maximum 1"]
    assert schema.validate(_claim(codec_max_abs_dp=float("nan")), schema.ROBUSTNESS) == [
        "/codec_max_abs_dp: nan is not a finite number"]
    assert schema.validate(_claim(transforms=-1), schema.ROBUSTNESS) == ["/transforms: -1 is below the minimum 0"]
    assert schema.validate(_claim(reported_by="mom-bench"), schema.ROBUSTNESS) == [
        "/reported_by: must be 'submitter', got 'mom-bench'"]
    assert schema.validate({k: v for k, v in _claim().items() if k != "suite"}, schema.ROBUSTNESS) == [
        "/suite: required but missing"]
    summary = {"f1": {"value": 0.5, "ci": None},
               "tpr_at_1pct_fpr": {"value": 1.2, "ci": None, "resolvable": False, "n_real": 3},
               "worst_source_fpr": {"source": "x", "value": -0.1, "n_real": 3, "n_called_fake": 0},
               "fpr_by_source": {"x": {"n_real": 3, "n_called_fake": -1, "fpr": {"value": 2, "ci": None}}}}
    assert sorted(schema.validate(summary, schema.SUMMARY)) == [
        "/fpr_by_source/x/fpr/value: 2 is above the maximum 1",
        "/fpr_by_source/x/n_called_fake: -1 is below the minimum 0",
        "/tpr_at_1pct_fpr/value: 1.2 is above the maximum 1",
        "/worst_source_fpr/value: -0.1 is below the minimum 0"]


def test_render_refuses_an_entry_with_an_out_of_range_claim(mom_build, tmp_path):
    """issue 12 item 4: an entry edited by hand to claim impossible robustness is refused by render."""
    pred = tmp_path / "preds.csv"
    make_scores(labels_frame(mom_build)).to_csv(pred, index=False)
    root = tmp_path / "lb"
    path = submit(pred, valid_meta(), "mom", data_dir=mom_build, root=root, n_bootstrap=20)
    entry = json.loads(path.read_text())
    good = copy.deepcopy(entry)
    good["robustness"] = _claim(most_harmful=HOSTILE)
    path.write_text(json.dumps(good))
    assert load_entries(root)["mom"][0]["robustness"]["most_harmful"] == HOSTILE
    entry["robustness"] = _claim(codec_mean_abs_dp=3.0)
    path.write_text(json.dumps(entry))
    with pytest.raises(EntryError, match="/robustness/codec_mean_abs_dp: 3.0 is above the maximum 1"):
        render(root)


# --------------------------------------------------------------------------------------------------
# the page, in a real browser


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
def test_new_columns_sort_in_a_browser(browser, robust_results, data_dir, tmp_path):  # noqa: F811  (imported fixture)
    """issue 12 item 4: the page sorts by TPR@1%FPR, the worst source's FPR and the robustness columns."""
    from tests.test_leaderboard_browser import _column, _open, _screenshot

    root = tmp_path / "lb"
    entry_from_evaluation(robust_results, _meta(), root=root, data_dir=data_dir)
    rows = _test_rows(data_dir)
    for seed, name in ((1, "Other Detector"), (2, "Third Detector")):
        pred = tmp_path / f"{seed}.csv"
        scores = _scores(rows)
        scores["score"] = np.clip(scores["score"] + np.random.default_rng(seed).normal(0, 0.2, len(scores)), 0, 1)
        scores.to_csv(pred, index=False)
        submit(pred, valid_meta(model_name=name), "mom", data_dir=data_dir, root=root, n_bootstrap=20)
    render(root)
    _open(browser, root / "index.html")
    heads = browser.evaluate("Array.from(document.querySelectorAll('#board-mom thead th')).map(th => th.dataset.key)")
    for key in ("tpr_at_1pct_fpr", "worst_source_fpr", "codec_worst_tpr", "codec_mean_abs_dp", "codec_invariant"):
        col = heads.index(key)
        browser.click(f"#board-mom th[data-key={key}]")
        keys = browser.evaluate(f"Array.from(document.querySelectorAll('#board-mom tbody tr'))"
                                f".map(r => r.cells[{col}].getAttribute('data-sort'))")
        present = [float(k) for k in keys if k]
        assert present == sorted(present, reverse=True) and all(keys[:len(present)]), (key, keys)
        assert len(present) == (3 if key in ("tpr_at_1pct_fpr", "worst_source_fpr") else 1)
    col = heads.index("worst_source_fpr")
    for _ in range(2):  # the first click sorts highest first again (another column was sorted since), the second
        browser.click("#board-mom th[data-key=worst_source_fpr]")  # lowest first
    up = [float(v.split()[0]) for v in _column(browser, "board-mom", col)]
    assert up == sorted(up)
    _screenshot(browser, "leaderboard-operating-points.png", tmp_path)
    assert browser.errors() == []
