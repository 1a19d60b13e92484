"""Lineage across builds (mom_bench.dataset.lineage) and the shortcut checks outside the signal
(mom_bench.dataset.shortcut.metadata_shortcuts): real audio written here, real builds by the real builder
(source kind csv), real parquet, evaluate with a tiny detector, the matrix with the real fakeprint baseline."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import torch
from click.testing import CliRunner

from mom_bench.cli import main
from mom_bench.core import audio as A
from mom_bench.dataset import lineage
from tests._build_fixtures import build_listed, write_audio

PROTOCOL = """\
name: {name}
version: "0.1.0"
title: Lineage test corpus {name}
description: Note sequences for the lineage tests.
license: CC-BY-4.0
citation: "@misc{{lin, title={{Lin}}}}"
audio: {{sample_rate: {rate}, format: flac, max_seconds: null}}
clip_policy: "first:2"
source: {{kind: csv, host: "local test files"}}
splits:
  salt: lin-v1
  reals: {{train: 0.5, validation: 0.2, test_id: 0.15, test_ood: 0.15}}
  fakes_id: {{train: 0.6, validation: 0.2, test_id: 0.2}}
generators:
  - {{id: gen_a, name: Gen A, family: a, role: train}}
  - {{id: gen_b, name: Gen B, family: b, role: train}}
reals:
  - {{id: real, name: Reals}}
"""


BUILT_A = "home/datasets/corpus-a"


def notes(seed: int, rate: int, seconds: float = 2.5) -> torch.Tensor:
    """A short melody: notes of random pitch and length with harmonics and a decay, different for every seed."""
    g = torch.Generator().manual_seed(seed)
    out, t0 = [], 0.0
    while t0 < seconds:
        length = float(torch.empty(1).uniform_(0.12, 0.3, generator=g))
        f0 = 110.0 * 2 ** (float(torch.randint(0, 36, (1,), generator=g)) / 12)
        t = torch.arange(int(length * rate)) / rate
        env = torch.exp(-t * 6)
        out.append(sum(0.25 / k * torch.sin(2 * math.pi * f0 * k * t) for k in (1, 2, 3)) * env)
        t0 += length
    x = torch.cat(out)[: int(seconds * rate)]
    return x + 0.003 * torch.randn(x.shape, generator=g)


def row(i: str, label: int, gen: str, path: str, split: str) -> dict:
    return {"id": i, "label": label, "generator": gen, "source": "real" if gen == "real" else gen, "path": path,
            "split": split}


def corpus_a(folder: Path) -> list[dict]:
    """Corpus A at 16 kHz: reals and fakes in train, validation and test_id, each song a melody of its own."""
    rows = []
    for k, split in enumerate(["train"] * 4 + ["validation"] * 2 + ["test_id"] * 2):
        write_audio(folder / f"a/real_{k}.wav", notes(100 + k, 22050), 22050)
        write_audio(folder / f"a/fake_{k}.flac", notes(200 + k, 16000), 16000)
        rows += [row(f"a_real_{k}", 0, "real", f"a/real_{k}.wav", split),
                 row(f"a_fake_{k}", 1, "gen_a", f"a/fake_{k}.flac", split)]
    return rows


@pytest.fixture(scope="module")
def two_builds(tmp_path_factory):
    """Corpus A, and corpus B at 24 kHz holding: two of A's train files as they are (other ids, another rate:
    exact on the rate-invariant hash only), one of A's train songs re-encoded as 44.1 kHz MP3 (a near duplicate)
    and songs of its own."""
    folder = tmp_path_factory.mktemp("lineage")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MOM_BENCH_HOME", str(folder / "home"))
        a = build_listed(folder, PROTOCOL.format(name="corpus-a", rate=16000), corpus_a(folder),
                         "home/datasets/corpus-a")
        song = A.load(folder / "a/real_1.wav").samples
        write_audio(folder / "b/copy.mp3", A.resample(song, 22050, 44100), 44100)
        rows = [row("b_same_real", 0, "real", "a/real_0.wav", "test_id"),
                row("b_same_fake", 1, "gen_b", "a/fake_0.flac", "test_id"),
                row("b_reencoded", 0, "real", "b/copy.mp3", "test_id")]
        for k, split in enumerate(["train"] * 3 + ["validation"] * 2 + ["test_id"] * 3):
            write_audio(folder / f"b/real_{k}.wav", notes(300 + k, 22050), 22050)
            write_audio(folder / f"b/fake_{k}.flac", notes(400 + k, 16000), 16000)
            rows += [row(f"b_real_{k}", 0, "real", f"b/real_{k}.wav", split),
                     row(f"b_fake_{k}", 1, "gen_b", f"b/fake_{k}.flac", split)]
        # A is in the home's datasets folder: every later build is compared with it without being told
        b = build_listed(folder, PROTOCOL.format(name="corpus-b", rate=24000), rows, "built_b")
    return folder, a, b


def test_the_report_lists_rows_another_build_holds_exact_and_near(two_builds):
    folder, a, b = two_builds
    report = json.loads(b.report_path.read_text())
    by_build = {o["build"]: o for o in report["overlap"]}
    found = by_build["corpus-a 0.1.0"]
    # stored at 24 kHz here and 16 kHz there: content_sha256 differs, the 16 kHz input hash does not
    assert found["exact_ids"] == {"b_same_real": "a_real_0", "b_same_fake": "a_fake_0"}
    assert list(found["near_ids"]) == ["b_reencoded"] and found["near_ids"]["b_reencoded"]["id"] == "a_real_1"
    assert found["near_ids"]["b_reencoded"]["ber"] <= lineage.NEAR_BER
    assert found["exact"] == 2 and found["near"] == 1 and found["near_checked"]
    assert "overlap with corpus-a 0.1.0" in b.summary() and "2 rows exact, 1 near duplicates" in b.summary()
    # A was built first, with nothing to compare with
    assert json.loads(a.report_path.read_text())["overlap"] == []
    a_shard = pq.read_table(next((folder / BUILT_A / "data").glob("train-*.parquet"))).to_pylist()
    b_rows = {r["id"]: r for s in (folder / "built_b/data").glob("*.parquet") for r in pq.read_table(s).to_pylist()}
    a_rows = {r["id"]: r for r in a_shard}
    assert b_rows["b_same_real"]["content_sha256"] != a_rows["a_real_0"]["content_sha256"]
    assert b_rows["b_same_real"]["pcm16k_sha256"] == a_rows["a_real_0"]["pcm16k_sha256"]
    assert b_rows["b_reencoded"]["orig_bytes"] == (folder / "b/copy.mp3").stat().st_size


def test_distinct_songs_are_not_near_duplicates(two_builds):
    folder, _, _ = two_builds
    rows = lineage.read_build(folder / "built_b")
    prints = {i: lineage.words(p) for i, p in zip(rows.ids, rows.prints)}
    distinct = [i for i in prints if i.startswith(("b_real", "b_fake"))]
    bers = [lineage.bit_error_rate(prints[x], prints[y]) for n, x in enumerate(distinct) for y in distinct[n + 1:]]
    assert bers and min(b for b in bers if b is not None) > lineage.NEAR_BER


def test_dedup_against_names_a_build_and_refuses_a_folder_that_is_not_one(two_builds, tmp_path):
    folder, _, _ = two_builds
    with pytest.raises(FileNotFoundError, match="not a finished mom-bench build"):
        lineage.local_builds([tmp_path])
    assert lineage.local_builds([folder / BUILT_A]) == [folder / BUILT_A]


def test_a_build_without_the_lineage_columns_is_compared_on_its_audio_hash_alone(two_builds, tmp_path):
    """A build made before the lineage columns: exact matches on content_sha256 only, and no near-duplicate
    verdict (near_checked false)."""
    folder, _, _ = two_builds
    old = tmp_path / "old"
    (old / "data").mkdir(parents=True)
    for shard in (folder / "built_b/data").glob("*.parquet"):
        table = pq.read_table(shard)
        pq.write_table(table.drop_columns(["orig_bytes", "pcm16k_sha256", "pcm16k_print"]), old / "data" / shard.name)
    mine = lineage.read_build(folder / "built_b")
    found = lineage.overlap(mine, lineage.read_build(old, "old"))
    assert not found.near_checked and found.near == {}
    assert set(found.exact) == set(mine.ids) and found.exact["b_reencoded"] == "b_reencoded"


class _Energy(torch.nn.Module):
    """Log energy of each song: a detector that keeps the contract."""
    sample_rate, clip = 16000, "first:2"

    def forward(self, wave):
        return wave.pow(2).mean(dim=1).add(1e-8).log()


def test_evaluate_leaves_out_the_test_rows_the_training_build_holds_and_counts_them(two_builds, tmp_path):
    import mom_bench

    folder, _, _ = two_builds
    plain = mom_bench.evaluate(_Energy(), None, folder / "built_b", out_dir=tmp_path / "plain", n_bootstrap=20,
                               plots=False, progress=False, calibration_split=None)
    res = mom_bench.evaluate(_Energy(), None, folder / "built_b", out_dir=tmp_path / "res", n_bootstrap=20,
                             plots=False, progress=False, calibration_split=None,
                             exclude_overlap_with=[folder / BUILT_A])
    left = res.results["benchmark"]["excluded_overlap"]
    assert left["rows"] == 3 and left["by_split"] == {"test_id": 3} and left["exact"] == 2 and left["near"] == 1
    assert set(plain.predictions["id"]) - set(res.predictions["id"]) == {"b_same_real", "b_same_fake", "b_reencoded"}
    assert "excluded_overlap" not in plain.results["benchmark"]
    on_disk = json.loads((tmp_path / "res" / "results.json").read_text())
    assert on_disk["benchmark"]["excluded_overlap"]["rows"] == 3


def test_matrix_leaves_out_content_overlap_and_counts_it_per_cell(two_builds, tmp_path, monkeypatch):
    import mom_bench

    folder, _, _ = two_builds
    monkeypatch.setenv("MOM_BENCH_HOME", str(tmp_path / "home"))
    result = mom_bench.matrix("fakeprint", [folder / BUILT_A], [folder / "built_b"], tmp_path / "m",
                              n_bootstrap=50, progress=False, exclude_content_overlap=True)
    (cell,) = result.document["cells"]
    assert cell["excluded_content_overlap"] == 3 and cell["excluded_overlap"] == 0
    n_test = sum(1 for r in json.loads((folder / "built_b/build_report.json").read_text())["rows"]
                 if r["split"] == "test_id")
    assert cell["n"] == n_test - 3
    assert "matrix --exclude-overlap" in (tmp_path / "m" / "matrix.md").read_text()


# --------------------------------------------------------------------------------------------------
# shortcuts in the input files and ids


def _shortcut_corpus(folder: Path, *, constant: bool, id_range: bool) -> dict:
    """Reals of mixed formats and lengths; gen_a either written as one fixed-length 16 kHz WAV each (constant
    size) or like the reals; gen_b's ids either in a range of their own or interleaved with the reals'."""
    formats = [("wav", 22050), ("flac", 16000), ("mp3", 44100)]
    rows = []
    for k in range(8):
        ext, rate = formats[k % 3]
        write_audio(folder / f"s/real_{k}.{ext}", notes(500 + k, rate, 1.5 + 0.25 * (k % 4)), rate)
        rows.append(row(f"real_{k:04d}", 0, "real", f"s/real_{k}.{ext}", ""))
        ext_a, rate_a = ("wav", 16000) if constant else formats[(k + 1) % 3]
        seconds = 2.0 if constant else 1.5 + 0.25 * ((k + 2) % 4)
        write_audio(folder / f"s/a_{k}.{ext_a}", notes(600 + k, rate_a, seconds), rate_a)
        rows.append(row(f"gen_a_{k:04d}", 1, "gen_a", f"s/a_{k}.{ext_a}", ""))
        ext_b, rate_b = formats[(k + 2) % 3]
        write_audio(folder / f"s/b_{k}.{ext_b}", notes(700 + k, rate_b, 1.5 + 0.25 * ((k + 1) % 4)), rate_b)
        number = 9000 + k if id_range else k
        rows.append(row(f"gen_b_{number:04d}", 1, "gen_b", f"s/b_{k}.{ext_b}", ""))
    result = build_listed(folder, PROTOCOL.format(name="shortcuts", rate=16000), rows)
    return json.loads(result.report_path.read_text())


def test_a_constant_size_generator_and_id_encoded_generators_are_found(tmp_path):
    report = _shortcut_corpus(tmp_path, constant=True, id_range=True)
    ms = report["metadata_shortcuts"]
    assert [c["generator"] for c in ms["constant_size"]] == ["gen_a"] and ms["constant_size"][0]["rows"] == 8
    hits = {(s["generator"], s["column"]) for s in ms["separating"]}
    assert ("gen_a", "orig_sample_rate") not in hits  # some reals are 16 kHz files too
    assert ("gen_b", "id_number") in hits
    assert not any(g == "gen_b" and c.startswith("orig_") for g, c in hits)
    card = (tmp_path / "built" / "README.md").read_text()
    section = card.split("## Shortcuts found in this build")[1].split("##")[0]
    assert "constant size: 8 of gen_a's 8 input files" in section and "gen_b vs reals: id_number" in section
    from mom_bench.dataset.build_report import BuildResult

    summary = BuildResult.from_report(tmp_path / "built").summary()
    assert "SHORTCUTS:" in summary and "constant size: 8 of gen_a's 8" in summary


def test_no_shortcut_is_reported_for_fakes_and_reals_alike_in_format_and_ids(tmp_path):
    ms = _shortcut_corpus(tmp_path, constant=False, id_range=False)["metadata_shortcuts"]
    assert ms["findings"] == [] and ms["constant_size"] == [] and ms["separating"] == []


def test_mom_mini_shows_no_shortcut_in_its_files_or_ids(mini_build):
    ms = json.loads((mini_build / "build_report.json").read_text())["metadata_shortcuts"]
    assert ms["findings"] == [], ms["findings"]


# --------------------------------------------------------------------------------------------------
# the benchmark list


def test_the_list_gives_each_benchmark_its_licence_and_host_within_120_columns():
    from mom_bench.dataset import protocols

    out = CliRunner().invoke(main, ["build", "--list"])
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    assert all(len(line) <= 120 for line in lines)
    for name in protocols.names():
        p = protocols.load(name)
        at = next(n for n, line in enumerate(lines) if line.startswith(f"{name} {p.version}"))
        entry = "\n".join(lines[at + 1: at + 5])
        host = p.host or "(the protocol does not say)"
        assert f"licence: {p.license}" in entry and f"host: {host}" in entry.replace("\n        ", " ")
    assert "host: hf-dataset:anonymous2212/MoM-CLAM-dataset@8d21bdf" in out.output
    assert "host: shipped in the mom-bench package" in out.output


def test_build_help_for_a_benchmark_ends_with_what_to_download():
    out = CliRunner().invoke(main, ["build", "-b", "mom", "--help"])
    assert out.exit_code == 0, out.output
    tail = " ".join(out.output.split("What to download for mom:")[1].split())
    assert "Host: hf-dataset:anonymous2212/MoM-CLAM-dataset@8d21bdf" in tail and "--root AUDIO_ROOT" in tail
    assert "What to download" not in CliRunner().invoke(main, ["build", "--help"]).output
