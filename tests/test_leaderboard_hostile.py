"""Issue 11 for the leaderboard: nothing lost, nothing trusted that should not be.

Each test names the issue item it covers. Everything is real: the tiny ``mom`` build of the session
(tests/conftest.py), real files, real processes for the races and the held lock, real peak-RSS figures of a
child process for the memory budgets.
"""
from __future__ import annotations

import csv
import hashlib
import html
import io
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from mom_bench.core.files import FolderBusy
from mom_bench.dataset.read import verify_build
from mom_bench.leaderboard.render import render
from mom_bench.leaderboard.submit import SubmissionRejected, entry_from_evaluation, submit
from mom_bench.leaderboard.validate import validate_folder
from mom_bench.report.metrics import compute_report
from tests._fixtures_leaderboard import BENCHMARK, labels_frame, make_scores, valid_meta

REPO = Path(__file__).resolve().parents[1]
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@pytest.fixture(scope="module")
def data_dir(mom_build):
    return mom_build


@pytest.fixture()
def scores(data_dir):
    return make_scores(labels_frame(data_dir))


def _submit(root, data_dir, scores, meta=None, name="preds.csv", **kw):
    pred = Path(root).parent / name
    scores.to_csv(pred, index=False)
    return submit(pred, meta or valid_meta(), BENCHMARK, data_dir=data_dir, root=root, n_bootstrap=50, **kw)


def _files(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (hidden ones included), by relative path, with its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != ".mom-bench.lock"}


def _child_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}


# --------------------------------------------------------------------------------------------------
# item 2: --replace checks everything first, then swaps entry and predictions in together


def _run_folder(tmp_path: Path, data_dir: Path, scores) -> Path:
    """A results folder as `mom-bench evaluate` writes it (results.json + predictions.csv)."""
    run = tmp_path / "run"
    run.mkdir()
    rows = labels_frame(data_dir).merge(scores, on="id")
    rows[["id", "split", "generator", "label", "score"]].to_csv(run / "predictions.csv", index=False)
    report = json.loads((data_dir / "build_report.json").read_text())
    results = {"schema_version": 1,
               "benchmark": {"name": "mom", "version": report["benchmark_version"],
                             "fingerprint": report["fingerprint"], "dataset": str(data_dir),
                             "splits": ["test_id", "test_ood"]},
               "model": {"requested": "clam", "name": "clam", "config": {}},
               "metrics": compute_report(rows, n_bootstrap=40, seed=3)}
    (run / "results.json").write_text(json.dumps(results))
    return run


def test_item2_replace_that_fails_reproduction_leaves_the_previous_entry(tmp_path, data_dir, scores):
    """issue 11 item 2: `submit RESULTS_DIR --replace` whose results no longer reproduce is refused before
    anything is written: the previous entry and its stored predictions stay byte-identical."""
    run = _run_folder(tmp_path, data_dir, scores)
    root = tmp_path / "lb"
    meta = {k: v for k, v in valid_meta().items() if k not in ("model_name", "parameters")}
    path = entry_from_evaluation(run, meta, root=root)
    before = _files(root / "entries")
    assert set(before) == {"mom/clam.json", "mom/clam.predictions.csv"}

    edited = (run / "predictions.csv").read_text().splitlines()
    ident, split, gen, label, score = edited[1].split(",")
    edited[1] = ",".join([ident, split, gen, label, repr(1.0 - float(score))])
    (run / "predictions.csv").write_text("\n".join(edited) + "\n")
    with pytest.raises(SubmissionRejected, match="does not reproduce the metrics"):
        entry_from_evaluation(run, meta, root=root, replace=True)
    assert _files(root / "entries") == before and path.is_file()


def test_item2_refused_replacements_touch_nothing(tmp_path, data_dir, scores):
    """issue 11 item 2: bad predictions under --replace, and --replace over an entry submit did not make
    (a reported row), are refused and leave every file as it was."""
    root = tmp_path / "lb"
    _submit(root, data_dir, scores)
    before = _files(root / "entries")
    bad = scores.copy()
    bad.loc[0, "score"] = 1.5
    with pytest.raises(SubmissionRejected, match=r"outside \[0, 1\]"):
        _submit(root, data_dir, bad, replace=True)
    assert _files(root / "entries") == before

    reported = root / "entries" / "mom" / "paper-row.json"
    reported.write_text(json.dumps({"kind": "reported", "slug": "paper-row"}))
    before = _files(root / "entries")
    with pytest.raises(SubmissionRejected, match="is a reported entry, not a reproduced one"):
        _submit(root, data_dir, scores, meta=valid_meta(slug="paper-row"), replace=True)
    assert _files(root / "entries") == before


def test_item2_replace_swaps_entry_and_predictions_together(tmp_path, data_dir, scores):
    """issue 11 item 2: a successful --replace leaves the new entry, its own predictions and no temporary or
    kept copies; replacing without stored predictions removes the old entry's file (no orphan)."""
    root = tmp_path / "lb"
    _submit(root, data_dir, scores)
    other = make_scores(labels_frame(data_dir), seed=9)
    path = _submit(root, data_dir, other, replace=True)
    entry = json.loads(path.read_text())
    stored = path.with_name(entry["predictions"]["stored"])
    assert hashlib.sha256(stored.read_bytes()).hexdigest() == entry["predictions"]["stored_sha256"]
    assert sorted(p.name for p in path.parent.iterdir()) == ["test-detector.json", "test-detector.predictions.csv"]

    _submit(root, data_dir, scores, replace=True, store_predictions=False)
    assert sorted(p.name for p in path.parent.iterdir()) == ["test-detector.json"]


# --------------------------------------------------------------------------------------------------
# item 4: one writer at a time per leaderboard folder

_WORKER = textwrap.dedent("""
    import sys
    from mom_bench.core.errors import MomBenchError
    from mom_bench.leaderboard.submit import submit

    pred, meta, data = sys.argv[1:4]
    print("ready", flush=True)
    for line in sys.stdin:
        try:
            submit(pred, meta, "mom", data_dir=data, root=line.strip(), n_bootstrap=5)
            print("wrote", flush=True)
        except MomBenchError as err:
            print(type(err).__name__ + ": " + " ".join(str(err).split()), flush=True)
""")


@pytest.mark.slow
def test_item4_two_concurrent_submits_for_one_name_have_one_winner(tmp_path, data_dir, scores):
    """issue 11 item 4: two real processes submit the same name at the same moment, eight times: exactly one
    writes; the other is refused (FolderBusy while the first writes, "already exists" after)."""
    pred = tmp_path / "preds.csv"
    scores.to_csv(pred, index=False)
    meta = tmp_path / "meta.yaml"
    meta.write_text(yaml.safe_dump(valid_meta()))
    workers = [subprocess.Popen([sys.executable, "-c", _WORKER, str(pred), str(meta), str(data_dir)],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=_child_env())
               for _ in range(2)]
    try:
        for w in workers:
            assert w.stdout.readline().strip() == "ready"
        for trial in range(8):
            root = tmp_path / f"lb{trial}"
            for w in workers:  # both are told at once, then both answers are read
                w.stdin.write(f"{root}\n")
                w.stdin.flush()
            answers = sorted(w.stdout.readline().strip() for w in workers)
            assert answers[1] == "wrote", answers
            assert answers[0].startswith("FolderBusy:") or (
                answers[0].startswith("SubmissionRejected:") and "already exists" in answers[0]), answers
            entry = json.loads((root / "entries" / "mom" / "test-detector.json").read_text())
            stored = root / "entries" / "mom" / entry["predictions"]["stored"]
            assert hashlib.sha256(stored.read_bytes()).hexdigest() == entry["predictions"]["stored_sha256"]
    finally:
        for w in workers:
            w.stdin.close()
            w.wait(timeout=60)


def test_item4_a_held_lock_refuses_submit_render_and_import(tmp_path, data_dir, scores):
    """issue 11 item 4: while another real process holds the leaderboard's writer lock, submit, render and
    import-reported refuse at once with FolderBusy and change nothing."""
    from mom_bench.leaderboard.reported import import_reported

    root = tmp_path / "lb"
    _submit(root, data_dir, scores)
    before = _files(root)
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent("""
        import sys
        from mom_bench.core.files import writer_lock
        with writer_lock(sys.argv[1], "test"):
            print("held", flush=True)
            sys.stdin.read()
        """), str(root)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=_child_env())
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(FolderBusy, match=f"pid {holder.pid}"):
            _submit(root, data_dir, make_scores(labels_frame(data_dir), seed=5), replace=True)
        with pytest.raises(FolderBusy):
            render(root)
        with pytest.raises(FolderBusy):
            import_reported(REPO / "baselines", root)
        assert _files(root) == before
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    render(root)  # the kernel released the lock with its holder


# --------------------------------------------------------------------------------------------------
# item 7: a submission covers every test split of the benchmark, or says it is partial


def test_item7_a_left_out_test_split_is_refused_unless_partial(tmp_path, data_dir, scores):
    """issue 11 item 7: predictions with no test_ood id are refused naming the split; declared partial (the
    library argument or `partial: true` in the metadata) they are scored on test_id alone, marked partial on
    every rendered output and not ranked."""
    only_id = scores[scores["id"].str.startswith("test_id-")]
    root = tmp_path / "lb"
    with pytest.raises(SubmissionRejected) as err:
        _submit(root, data_dir, only_id)
    assert any("test split 'test_ood' is left out" in p and "partial" in p for p in err.value.problems)
    assert not root.exists()

    path = _submit(root, data_dir, only_id, partial=True)
    entry = json.loads(path.read_text())
    assert entry["partial"] is True and entry["scoring"]["splits"] == ["test_id"]
    assert entry["summary"]["f1_ood"] is None and set(entry["report"]["splits"]) == {"test_id"}
    other = make_scores(labels_frame(data_dir), seed=2)
    other_id = other[other["id"].str.startswith("test_id-")]
    _submit(root, data_dir, other_id, meta=valid_meta(model_name="Meta Partial", partial=True), name="p2.csv")
    _submit(root, data_dir, scores, meta=valid_meta(model_name="Complete"), name="p3.csv")
    assert not (root / "entries" / "mom" / "meta-partial.json").read_text().count('"partial": false')

    render(root)
    md = (root / "LEADERBOARD.md").read_text()
    assert md.count("(**partial: test_id only**)") == 2 * 2  # main table and per-generator table
    rows = {r["slug"]: r for r in csv.DictReader(io.StringIO((root / "leaderboard.csv").read_text()))}
    assert rows["test-detector"]["partial"] == "true" and rows["test-detector"]["splits"] == "test_id"
    assert rows["test-detector"]["rank"] == "" and rows["complete"]["rank"] == "1"
    assert rows["complete"]["partial"] == "false"
    page = (root / "index.html").read_text()
    assert page.count('class="badge badge-partial"') == 2 * 2
    assert validate_folder(root, data_dirs={"mom": data_dir}).ok

    edited = dict(entry, partial=False)
    path.write_text(json.dumps(edited))
    problems = validate_folder(root, data_dirs={"mom": data_dir}, check_rendered=False).problems
    assert any("not marked partial" in p for p in problems), problems


def test_item7_the_build_is_verified_and_its_label_fingerprint_recorded(tmp_path, data_dir, scores):
    """issue 11 item 7: submit verifies the build (a deleted test_ood shard, or an edited label, is refused
    rather than scored) and records the build's label fingerprint in the entry."""
    path = _submit(tmp_path / "lb", data_dir, scores)
    assert json.loads(path.read_text())["label_fingerprint"] == verify_build(data_dir)["label_fingerprint"]

    broken = tmp_path / "broken"
    shutil.copytree(data_dir, broken)
    for shard in (broken / "data").glob("test_ood-*.parquet"):
        shard.unlink()
    with pytest.raises(SubmissionRejected) as err:
        _submit(tmp_path / "lb2", broken, scores[scores["id"].str.startswith("test_id-")], partial=True)
    assert any("test_ood-" in p and "missing" in p for p in err.value.problems), err.value.problems

    relabelled = tmp_path / "relabelled"
    shutil.copytree(data_dir, relabelled)
    shard = sorted((relabelled / "data").glob("test_id-*.parquet"))[0]
    table = pq.read_table(shard)
    flipped = pa.array([1 - v for v in table.column("label").to_pylist()], type=table.schema.field("label").type)
    pq.write_table(table.set_column(table.schema.get_field_index("label"), "label", flipped), shard)
    with pytest.raises(SubmissionRejected) as err:
        _submit(tmp_path / "lb3", relabelled, scores)
    assert any("do not match the build's fingerprint" in p and "label" in p for p in err.value.problems)


# --------------------------------------------------------------------------------------------------
# item 8: validate re-scores every reproduced entry whose labels match the local build


@pytest.fixture()
def board(tmp_path, data_dir, scores):
    root = tmp_path / "lb"
    path = _submit(root, data_dir, scores)
    render(root)
    return root, path


def _edit(path: Path, change) -> None:
    entry = json.loads(path.read_text())
    change(entry)
    path.write_text(json.dumps(entry, indent=2))


def _raise_f1(entry: dict) -> None:
    """F1 raised to 0.99 consistently: in the report, the pooled report and the summary."""
    entry["report"]["splits"]["test_ood"]["overall"]["f1"]["value"] = 0.99
    entry["report_all_tests"]["splits"]["test"]["overall"]["f1"]["value"] = 0.99
    entry["summary"]["f1"]["value"] = 0.99


def test_item8_audio_differences_are_noted_and_the_entry_still_re_scored(board, data_dir):
    """issue 11 item 8: a build whose audio hashes differ (another CPU) but whose labels match re-scores the
    entry, with a note; an F1 raised consistently in report and summary then fails, as does an edited
    dataset_fingerprint hiding it."""
    root, path = board
    original = path.read_text()
    _edit(path, lambda e: e.update(dataset_fingerprint="0" * 64))
    result = validate_folder(root, data_dirs={"mom": data_dir}, check_rendered=False)
    assert result.ok, result.problems
    assert any("audio of the build" in n and "re-scored anyway" in n for n in result.notes), result.notes
    assert any("re-scored from" in n and "identical" in n for n in result.notes)

    path.write_text(original)
    _edit(path, _raise_f1)
    assert any("re-scoring the stored predictions gives a different report" in p
               for p in validate_folder(root, data_dirs={"mom": data_dir}, check_rendered=False).problems)
    _edit(path, lambda e: e.update(dataset_fingerprint="0" * 64))
    assert any("re-scoring the stored predictions gives a different report" in p
               for p in validate_folder(root, data_dirs={"mom": data_dir}, check_rendered=False).problems)


def test_item8_an_edited_label_fingerprint_fails(board, data_dir):
    """issue 11 item 8: a label fingerprint that differs from a build of the same benchmark version is a
    problem (it cannot be a machine difference), not a reason to skip re-scoring."""
    root, path = board
    _edit(path, lambda e: (e.update(label_fingerprint="1" * 64), _raise_f1(e)))
    problems = validate_folder(root, data_dirs={"mom": data_dir}, check_rendered=False).problems
    assert any("label fingerprint 111111111111" in p and "both are mom" in p for p in problems), problems


def test_item8_stored_predictions_are_required(board, data_dir):
    """issue 11 item 8: an entry whose stored predictions were removed (the file, or the file and its
    reference) fails instead of being noted "not re-scored"."""
    root, path = board
    stored = path.with_name("test-detector.predictions.csv")
    stored.unlink()
    problems = validate_folder(root, data_dirs={"mom": data_dir}, check_rendered=False).problems
    assert any("stored predictions test-detector.predictions.csv are missing" in p for p in problems), problems
    _edit(path, lambda e: e["predictions"].update(stored=None, stored_sha256=None))
    problems = validate_folder(root, data_dirs={"mom": data_dir}, check_rendered=False).problems
    assert any("no stored predictions" in p for p in problems), problems


def test_item8_entries_without_label_fingerprint_fall_back_to_the_dataset_fingerprint(board, data_dir, tmp_path):
    """issue 11 item 8: an older entry without label_fingerprint is re-scored when its dataset fingerprint
    matches, noted "not re-scored" otherwise; ``require_rescore`` makes every skipped re-score a problem."""
    root, path = board
    _edit(path, lambda e: e.pop("label_fingerprint"))
    result = validate_folder(root, data_dirs={"mom": data_dir}, check_rendered=False)
    assert result.ok and any("identical" in n for n in result.notes), (result.problems, result.notes)
    _edit(path, lambda e: e.update(dataset_fingerprint="0" * 64))
    result = validate_folder(root, data_dirs={"mom": data_dir}, check_rendered=False)
    assert result.ok and any("not re-scored" in n for n in result.notes)
    strict = validate_folder(root, data_dirs={"mom": data_dir}, check_rendered=False, require_rescore=True)
    assert any("not re-scored" in p for p in strict.problems)
    nowhere = validate_folder(root, data_dirs={"mom": tmp_path / "nowhere"}, check_rendered=False,
                              require_rescore=True)
    assert any("not re-scored" in p for p in nowhere.problems)


def test_item8_rescore_rewrites_numbers_from_the_stored_predictions(board, data_dir):
    """issue 11 item 8: after the metrics change, `rescore` scores every reproduced entry again from its stored
    predictions so validate finds them identical; an entry on other labels is refused and nothing changes."""
    from mom_bench.leaderboard.submit import rescore

    root, path = board
    fresh = path.read_text()
    _edit(path, _raise_f1)  # numbers as an older mom-bench might have computed them
    assert not validate_folder(root, data_dirs={"mom": data_dir}, check_rendered=False).ok
    assert rescore("mom", data_dir, root) == [path]
    assert json.loads(path.read_text())["report"] == json.loads(fresh)["report"]
    assert validate_folder(root, data_dirs={"mom": data_dir}).ok

    _edit(path, lambda e: e.update(label_fingerprint="1" * 64))
    before = _files(root)
    with pytest.raises(SubmissionRejected, match="scored on other labels"):
        rescore("mom", data_dir, root)
    assert _files(root) == before


def test_item8_committed_reproduced_entries_carry_a_label_fingerprint():
    """issue 11 item 8: every committed reproduced entry records the label fingerprint of its build, so
    `leaderboard validate` re-scores it on any machine's build of the same benchmark version."""
    paths = sorted((REPO / "leaderboard" / "entries").glob("*/*.json"))
    if not paths:
        pytest.skip("no leaderboard/ folder in this checkout")
    reproduced = [json.loads(p.read_text()) for p in paths]
    reproduced = [e for e in reproduced if e["kind"] == "reproduced"]
    assert reproduced
    by_bench: dict[tuple, set] = {}
    for e in reproduced:
        assert re.fullmatch(r"[0-9a-f]{64}", e.get("label_fingerprint") or ""), e["slug"]
        by_bench.setdefault((e["benchmark"], e["benchmark_version"]), set()).add(e["label_fingerprint"])
    assert all(len(fps) == 1 for fps in by_bench.values()), by_bench


# --------------------------------------------------------------------------------------------------
# item 16: budgets enforced while streaming, proven on the peak memory of a real child process

_MEASURE = textwrap.dedent("""
    import json, re, sys
    from pathlib import Path
    from mom_bench.leaderboard.submission_files import Limits, load_predictions

    def peak_kib():
        return int(re.search(r"VmHWM:\\s+(\\d+) kB", Path("/proc/self/status").read_text()).group(1))

    tiny, cases = sys.argv[1], json.loads(sys.argv[2])
    load_predictions(Path(tiny))  # a tiny valid file first: every lazy import is loaded
    for path, limits in cases:
        # "5" resets the kernel's peak-RSS mark (VmHWM) to the current RSS, so the peak after the call is its
        # own. getrusage's ru_maxrss would not do: it never drops below the RSS of the parent at fork time.
        Path("/proc/self/clear_refs").write_text("5")
        before = peak_kib()
        frame, info, problems = load_predictions(Path(path), Limits(**limits))
        growth = (peak_kib() - before) * 1024
        del frame
        print(json.dumps({"problems": problems, "peak_growth": growth}), flush=True)
""")


def _measure(tiny: Path, *cases: tuple[Path, dict]) -> list[tuple[list[str], int]]:
    """Problems and peak-RSS growth (bytes) of load_predictions on each ``(path, limits)``, measured in one
    fresh child process (its peak-RSS mark reset before each case)."""
    if not os.access("/proc/self/clear_refs", os.W_OK):
        pytest.skip("needs Linux's /proc/self/clear_refs to reset the peak-RSS mark")
    out = subprocess.run([sys.executable, "-c", _MEASURE, str(tiny), json.dumps([(str(p), lim) for p, lim in cases])],
                         capture_output=True, text=True, env=_child_env(), timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    answers = [json.loads(line) for line in out.stdout.strip().splitlines()]
    return [(a["problems"], a["peak_growth"]) for a in answers]


@pytest.fixture()
def tiny(tmp_path):
    path = tmp_path / "tiny.parquet"
    pq.write_table(pa.table({"id": ["a", "b"], "score": [0.1, 0.9]}), path)
    return path


def _dictionary_parquet(path: Path, rows: int, id_length: int) -> int:
    """A small zstd Parquet file whose one id value, dictionary-encoded, repeats on every row; returns the
    bytes of text a naive read would decode (the ids as strings, at least)."""
    ids = pa.DictionaryArray.from_arrays(pa.array(np.zeros(rows, dtype=np.int32)), pa.array(["x" * id_length]))
    pq.write_table(pa.table({"id": ids, "score": np.full(rows, 0.5)}), path, compression="zstd")
    return rows * id_length


def test_item16_parquet_is_judged_from_its_footer_and_dictionary(tmp_path, tiny):
    """issue 11 item 16: 200k ids of 5 kB in a Parquet file of a few kB (1 GB once decoded) are refused from
    the footer and the dictionary page, with under a tenth of that memory; so are ids within the per-id
    limit whose decoded total is over the text budget, and an oversized footer."""
    bomb, wide = tmp_path / "bomb.parquet", tmp_path / "wide.parquet"
    naive_bomb = _dictionary_parquet(bomb, 200_000, 5_000)
    naive_wide = _dictionary_parquet(wide, 200_000, 1_500)
    assert bomb.stat().st_size < 1 << 20 and wide.stat().st_size < 1 << 20
    (p_bomb, g_bomb), (p_wide, g_wide), (p_footer, _) = _measure(
        tiny, (bomb, {}), (wide, {"text_bytes": 32 * 1024 * 1024}), (tiny, {"footer_bytes": 64}))
    assert any("an id of 5,000 bytes, over the limit of 2,000" in p for p in p_bomb), p_bomb
    assert g_bomb * 10 < naive_bomb, g_bomb
    assert any("over the limit of 33,554,432" in p for p in p_wide), p_wide
    assert g_wide * 10 < naive_wide, g_wide
    assert any("footer of" in p and "the limit is 64" in p for p in p_footer), p_footer


def test_item16_csv_budgets_are_enforced_while_streaming(tmp_path, tiny):
    """issue 11 item 16: a CSV with far more rows than the row budget is refused after reading about the
    budget's worth, with under a tenth of the memory its ids alone need; an id over the per-id limit and an
    endless line are refused where they occur."""
    rows = 700_000
    ident = "id-{:034d}"  # 37 characters, as long as a real MoM id
    many = tmp_path / "many.csv"
    with open(many, "w") as fh:
        fh.write("id,score\n")
        fh.writelines(f"{ident.format(i)},0.5\n" for i in range(rows))
    naive = rows * sys.getsizeof(ident.format(0))  # every id held as a str, the least a full read keeps
    long_id = tmp_path / "long.csv"
    long_id.write_text("id,score\na,0.1\n" + "b" * 3000 + ",0.2\n")
    commas = tmp_path / "commas.csv"
    commas.write_text("id,score\n" + "," * 200_000 + "\n")
    (p_many, g_many), (p_long, _), (p_commas, _) = _measure(tiny, (many, {"rows": 5_000}), (long_id, {}),
                                                            (commas, {}))
    assert any("more rows than the limit of 5,000 (stopped reading at line 5002)" in p for p in p_many), p_many
    assert g_many * 10 < naive, g_many
    assert any("line 3: the id is 3,000 bytes, over the limit of 2,000" in p for p in p_long), p_long
    assert any("line 2 is longer than 65,536 characters" in p for p in p_commas), p_commas


# --------------------------------------------------------------------------------------------------
# item 18: never write through a symlink inside the leaderboard


def test_item18_a_planted_predictions_link_is_replaced_not_followed(tmp_path, data_dir, scores):
    """issue 11 item 18: a symlink planted at entries/<benchmark>/<slug>.predictions.csv is replaced by the
    stored predictions; the file it pointed to, outside the leaderboard, is untouched."""
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    folder = tmp_path / "lb" / "entries" / "mom"
    folder.mkdir(parents=True)
    (folder / "test-detector.predictions.csv").symlink_to(victim)
    path = _submit(tmp_path / "lb", data_dir, scores)
    assert victim.read_text() == "precious\n"
    stored = path.with_name("test-detector.predictions.csv")
    assert not stored.is_symlink() and stored.read_text().startswith("id,score\n")


def test_item18_symlinked_folders_are_refused(tmp_path, data_dir, scores):
    """issue 11 item 18: a symlinked entries/<benchmark>/ folder is refused, naming it, and nothing is written
    where it points; validate reports symlinks in the entries folders."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / "lb" / "entries").mkdir(parents=True)
    (tmp_path / "lb" / "entries" / "mom").symlink_to(outside, target_is_directory=True)
    with pytest.raises(SubmissionRejected) as err:
        _submit(tmp_path / "lb", data_dir, scores)
    assert any("entries/mom is a symlink" in p for p in err.value.problems), err.value.problems
    assert list(outside.iterdir()) == []
    problems = validate_folder(tmp_path / "lb", recompute=False, check_rendered=False).problems
    assert any("a symlink" in p for p in problems), problems


def test_item18_render_replaces_planted_output_links(tmp_path, data_dir, scores):
    """issue 11 item 18: links planted at the rendered outputs' names are replaced; their targets keep
    their bytes."""
    root = tmp_path / "lb"
    _submit(root, data_dir, scores)
    victims = {}
    for name in ("LEADERBOARD.md", "leaderboard.csv", "index.html", "per_generator_f1.png"):
        victim = tmp_path / f"victim-{name}"
        victim.write_text("precious\n")
        (root / name).symlink_to(victim)
        victims[name] = victim
    render(root)
    for name, victim in victims.items():
        assert victim.read_text() == "precious\n" and not (root / name).is_symlink(), name
    assert validate_folder(root, data_dirs={"mom": data_dir}).ok


# --------------------------------------------------------------------------------------------------
# item 19: rendered outputs escape user text for their medium

HOSTILE = {
    "model_name": "Evil {{js}} <script>alert(1)</script> *bold* [x](http://e)",
    "command": "=HYPERLINK(\"http://evil.example\",\"x\") `` ` `` </code><script>alert(2)</script> | x",
    "description": "# heading <img src=x onerror=alert(3)> <meta http-equiv=\"refresh\" content=\"0;url=http://e\"> "
                   "_under_ &amp; ~~gone~~",
}


def test_item19_hostile_text_is_inert_in_every_output(tmp_path, data_dir, scores):
    """issue 11 item 19: formulas, HTML, Markdown and template placeholders in a submission's text stay text
    in leaderboard.csv, LEADERBOARD.md (rendered by a real CommonMark parser) and index.html."""
    markdown_it = pytest.importorskip("markdown_it")
    root = tmp_path / "lb"
    _submit(root, data_dir, scores, meta=valid_meta(**HOSTILE))
    render(root)

    rows = list(csv.reader(io.StringIO((root / "leaderboard.csv").read_text())))
    header, row = rows[0], rows[1]
    numeric = {"rank", "parameters"} | {c for c in header if c.startswith(("f1", "tpr[", "precision", "recall",
                                                                          "specificity", "accuracy", "auc", "eer"))}
    for column, cell in zip(header, row):
        assert column in numeric or not cell.startswith(FORMULA_START), (column, cell)
    assert row[header.index("source")] == "'" + HOSTILE["command"]

    md = (root / "LEADERBOARD.md").read_text()
    html_out = markdown_it.MarkdownIt("commonmark").enable("table").render(md)
    for tag in ("<script", "<img", "<meta", "<em>", "<strong>bold", "<a href", "<h1>heading", "<del>"):
        assert tag not in html_out, tag
    codes = re.findall(r"<code>(.*?)</code>", html_out, flags=re.S)
    command = [c for c in codes if "HYPERLINK" in c]
    assert len(command) == 1 and html.unescape(command[0]) == HOSTILE["command"], codes
    assert "<td>Evil {{js}} &lt;script&gt;alert(1)&lt;/script&gt; *bold* [x](http://e)</td>" in html_out

    page = (root / "index.html").read_text()
    js = (REPO / "mom_bench" / "leaderboard" / "leaderboard.js").read_text()
    assert page.count(js) == 1 and "Evil {{js}} &lt;script&gt;" in page
    assert "<script>alert" not in page and "<img src=x" not in page and "<meta http-equiv=\"refresh\"" not in page


def test_outputs_stay_utf8_lone_surrogates_are_refused(tmp_path, data_dir, scores):
    """issue 11 (outputs valid UTF-8): a metadata string that is no valid Unicode (a lone surrogate written
    as a JSON escape) is refused naming the field, before anything is written."""
    meta = tmp_path / "meta.json"
    meta.write_text(json.dumps(valid_meta()).replace('"Test Detector"', '"Test \\ud800 Detector"'))
    pred = tmp_path / "preds.csv"
    scores.to_csv(pred, index=False)
    with pytest.raises(SubmissionRejected) as err:
        submit(pred, meta, BENCHMARK, data_dir=data_dir, root=tmp_path / "lb", n_bootstrap=5)
    assert any("model_name: not valid Unicode text" in p for p in err.value.problems), err.value.problems
    assert not (tmp_path / "lb").exists()


def test_oversized_settings_are_refused_before_scoring(tmp_path, data_dir, scores):
    """issue 11 (bounded resources): n_bootstrap and seed are checked where they enter, with their range."""
    pred = tmp_path / "preds.csv"
    scores.to_csv(pred, index=False)
    with pytest.raises(SubmissionRejected) as err:
        submit(pred, valid_meta(), BENCHMARK, data_dir=data_dir, root=tmp_path / "lb", n_bootstrap=10**9, seed=-1)
    text = "\n".join(err.value.problems)
    assert "n_bootstrap 1000000000: expected a whole number from 1 to 10,000" in text
    assert "seed -1: expected a whole number from 0 to 4,294,967,295" in text
