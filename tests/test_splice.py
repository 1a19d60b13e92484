"""Spliced benchmarks (`mom-bench build -b splice --from DIR`) and the `segments` column.

Every check reads the spliced build and its base straight from their parquet shards and decodes the audio,
independently of the splice source: the segments are recomputed from the ``parts`` each song lists, and away
from the crossfades every sample must be the level-matched sample of the part it came from.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from mom_bench.core.audio import load
from mom_bench.core.errors import BuildError, BuildTampered, ProtocolError
from mom_bench.core.segments import check_segments
from mom_bench.dataset import build_benchmark, protocols
from mom_bench.dataset.build_report import fingerprint, label_fingerprint
from mom_bench.dataset.read import verify_build
from mom_bench.dataset.sources import SourceRow, row_identity

# 16-bit storage of the song (and of each part): a sample may differ from the exact mix by this much
_TOL = 2.5 / 32768


def _rows(build: Path, columns: list[str] | None = None) -> list[dict]:
    out = []
    for shard in sorted((build / "data").glob("*.parquet")):
        out += pq.read_table(shard, columns=columns).to_pylist()
    return out


def _decode(audio, rate: int) -> np.ndarray:
    return load(bytes(audio["bytes"]), rate, max_seconds=None).samples.numpy().astype(np.float64)


def _splice(base: Path, out: Path, **options) -> Path:
    result = build_benchmark("splice", out, source_options={"base": str(base), **options}, progress=False)
    assert result.ok, result.summary()
    return out


def _check_song(song: dict, parts: dict[str, dict], rate: int, half: int) -> dict:
    """Recompute ``song``'s segments from its parts and check its samples against them; returns the fitted gains."""
    pieces = json.loads(song["parts"])
    y = _decode(song["audio"], rate)
    assert y.size == pieces[-1]["start"] + pieces[-1]["length"]
    # segments: one per run of pieces of the same kind (human / AI), boundaries at the joins
    expected = []
    for p in pieces:
        ai = int(p["kind"] != "human")
        start, end = p["start"] / rate, (p["start"] + p["length"]) / rate
        if expected and expected[-1][2] == ai:
            expected[-1][1] = end
        else:
            expected.append([start, end, ai, song["generator"] if ai else "real"])
    got = [[s["start"], s["end"], s["label"], s["generator"]] for s in song["segments"]]
    assert [t for g in got for t in g[:2]] == pytest.approx([t for e in expected for t in e[:2]], abs=1e-9)
    assert [g[2:] for g in got] == [e[2:] for e in expected]
    check_segments([tuple(s) for s in got], song["duration_s"])
    assert song["label"] == int(any(e[2] for e in expected))
    ai_time = sum(e[1] - e[0] for e in expected if e[2])
    assert song["ai_fraction"] == pytest.approx(ai_time / song["duration_s"], abs=1e-6)
    # samples: away from the joins, gain * the part's sample
    gains: dict[str, list[float]] = {"human": [], "ai": []}
    rms: dict[str, list[np.ndarray]] = {"host": [], "ai": []}
    for p in pieces:
        x = _decode(parts[p["id"]]["audio"], rate)
        assert parts[p["id"]]["split"] == song["split"]
        inner = slice(half, p["length"] - half)
        src = x[p["offset"]:p["offset"] + p["length"]]
        mine = y[p["start"]:p["start"] + p["length"]]
        rms["ai" if p["kind"] == "ai" else "host"].append(src)
        if p["kind"] == "vocals":
            continue
        a, b = src[inner], mine[inner]
        g = float(a @ b / (a @ a))
        assert np.max(np.abs(b - g * a)) <= _TOL * max(1.0, g), (song["id"], p)
        gains["ai" if p["kind"] == "ai" else "human"].append(g)
    if gains["human"]:
        assert max(gains["human"]) - min(gains["human"]) < 1e-3  # the host is not touched (but for one peak guard)
    if gains["human"] and gains["ai"] and len({p["id"] for p in pieces if p["kind"] == "ai"}) == 1:
        def level(xs):
            return float(np.sqrt(np.mean(np.square(np.concatenate(xs)))))
        # level matching: the AI part brought to the host's RMS
        assert gains["ai"][0] / gains["human"][0] == pytest.approx(level(rms["host"]) / level(rms["ai"]), rel=2e-3)
    for p in pieces:
        if p["kind"] == "vocals":  # the host's music is there, with a vocal over it
            x = _decode(parts[p["id"]]["audio"], rate)[p["offset"]:p["offset"] + p["length"]]
            mine = y[p["start"]:p["start"] + p["length"]]
            assert np.max(np.abs(mine - gains["human"][0] * x)) > 0.01
    return gains


def _check_build(splice: Path, base: Path) -> dict[str, list[dict]]:
    report = json.loads((splice / "build_report.json").read_text())
    rate = report["audio"]["sample_rate"]
    parts = {r["id"]: r for r in _rows(base)}
    songs = _rows(splice)
    assert songs
    by_pattern: dict[str, list[dict]] = {}
    for song in songs:
        half = song["crossfade_samples"] // 2
        _check_song(song, parts, rate, half)
        by_pattern.setdefault(song["pattern"], []).append(song)
    assert report["base_build"]["fingerprint"] == json.loads((base / "build_report.json").read_text())["fingerprint"]
    verify_build(splice)
    return by_pattern


# --------------------------------------------------------------------------------------------------
# mom-mini


@pytest.fixture(scope="module")
def mini_splice(mini_build, tmp_path_factory) -> Path:
    return _splice(mini_build, tmp_path_factory.mktemp("splice") / "splice", songs_per_pattern=2)


def test_spliced_mini_loads_and_every_sample_comes_from_its_part(mini_splice, mini_build):
    import datasets

    by_pattern = _check_build(mini_splice, mini_build)
    assert set(by_pattern) == {"insert", "ai_intro", "ai_outro", "alternating", "vocals", "human", "ai"}
    assert {s["split"] for s in by_pattern["vocals"]} == {"test_ood"}  # mom-mini's vocal family is held out
    assert all(s["label"] == 0 and s["generator"] == "real" for s in by_pattern["human"])
    assert all(s["ai_fraction"] == 1.0 for s in by_pattern["ai"])
    ds = datasets.load_dataset(str(mini_splice), split="test_ood")
    assert ds.features["segments"].feature["label"].dtype == "int8"
    row = ds[0]
    assert row["segments"][-1]["end"] == pytest.approx(row["duration_s"])
    report = json.loads((mini_splice / "build_report.json").read_text())
    assert report["segments"]["test_ood"]["patterns"]["vocals"] == 2
    assert "vocals" in report["base_build"]["skipped"]["train"]
    card = (mini_splice / "README.md").read_text()
    assert "## Segments" in card and report["base_build"]["fingerprint"] in card


def test_no_part_of_a_song_comes_from_another_split(mini_splice, mini_build):
    base = {r["id"]: r for r in _rows(mini_build, ["id", "split", "generator", "is_ood", "label"])}
    gens = {g["id"]: g["role"] for g in json.loads((mini_build / "build_report.json").read_text())["generators"]}
    for song in _rows(mini_splice, ["id", "split", "parts", "generator", "is_ood"]):
        for p in json.loads(song["parts"]):
            part = base[p["id"]]
            assert part["split"] == song["split"], (song["id"], p["id"])
            if p["kind"] == "ai":
                assert part["generator"] == song["generator"]
                assert part["is_ood"] == (song["split"] == "test_ood")
            else:
                assert part["label"] == 0
        if song["generator"] != "real":
            assert (gens[song["generator"]] == "ood") == (song["split"] == "test_ood") == song["is_ood"]


def test_two_builds_are_identical_and_segments_are_fingerprinted(mini_splice, mini_build, tmp_path):
    again = _splice(mini_build, tmp_path / "again", songs_per_pattern=2)
    first, second = (json.loads((d / "build_report.json").read_text()) for d in (mini_splice, again))
    for key in ("fingerprint", "label_fingerprint", "audio_fingerprint"):
        assert first[key] == second[key]
    # a segment moved in a shard: the build no longer verifies
    shard = sorted((again / "data").glob("test_id-*.parquet"))[0]
    table = pq.read_table(shard)
    rows = table.to_pylist()
    row = next(r for r in rows if len(r["segments"]) > 1)
    row["segments"][0]["end"] += 0.5
    row["segments"][1]["start"] += 0.5
    pq.write_table(pa.Table.from_pylist(rows, schema=table.schema), shard)
    with pytest.raises(BuildTampered, match="segments"):
        verify_build(again)


# --------------------------------------------------------------------------------------------------
# a MoM-layout base (tests/_fixtures_leaderboard.py: 0.25 s clips posing as mom)


def test_a_mom_layout_base_splices_with_continuous_hosts(mom_build, tmp_path):
    out = _splice(mom_build, tmp_path / "splice", songs_per_pattern=2, section_seconds=0.08, crossfade_ms=10)
    by_pattern = _check_build(out, mom_build)
    report = json.loads((out / "build_report.json").read_text())
    assert "vocals" not in by_pattern
    assert "no vocal family" in report["base_build"]["skipped"]["test_id"]["vocals"]
    # sections shorter than the rows: the host goes on within one row, joined without a crossfade
    pieces = [json.loads(s["parts"]) for s in by_pattern["human"]]
    assert any(a["id"] == b["id"] and b["offset"] == a["offset"] + a["length"] for ps in pieces
               for a, b in zip(ps, ps[1:]))
    assert {s["split"] for s in _rows(out, ["split"])} == {"train", "test_id", "test_ood"}


def test_a_sonics_layout_base_splices_in_each_official_split(tmp_path):
    # SONICS' own layout (CSV files + folders), built with its official split: every split holds reals and fakes
    from test_build_sonics import FAKES, REALS, make_sonics_dir

    base = tmp_path / "sonics"
    result = build_benchmark("sonics", base, split_mode="official", progress=False,
                             source_options={"root": str(make_sonics_dir(tmp_path))})
    assert result.n_written == 6 and len(FAKES) + len(REALS) == 9
    out = _splice(base, tmp_path / "splice", songs_per_pattern=1, section_seconds=0.3, crossfade_ms=10)
    by_pattern = _check_build(out, base)
    assert {"insert", "ai_intro", "ai_outro", "alternating", "human", "ai"} <= set(by_pattern)
    assert "vocals" not in by_pattern  # SONICS has no vocal family to lay over an instrumental
    base_split = {r["id"]: r["split"] for r in _rows(base, ["id", "split"])}
    for songs in by_pattern.values():
        for song in songs:
            assert {base_split[p["id"]] for p in json.loads(song["parts"])} == {song["split"]}


def test_a_base_that_fails_verification_is_refused(mom_build, tmp_path):
    base = tmp_path / "mom"
    shutil.copytree(mom_build, base)
    next((base / "data").glob("train-*.parquet")).unlink()
    with pytest.raises(BuildError, match="base build .* cannot be used"):
        build_benchmark("splice", tmp_path / "out", source_options={"base": str(base)}, progress=False)
    with pytest.raises(BuildError, match="--from DIR"):
        build_benchmark("splice", tmp_path / "out", progress=False)
    with pytest.raises(BuildError, match="--max-seconds would cut the songs"):
        build_benchmark("splice", tmp_path / "out", source_options={"base": str(mom_build)}, max_seconds=1,
                        progress=False)


def test_cli_from_is_only_for_derived_benchmarks(tmp_path):
    done = subprocess.run([sys.executable, "-m", "mom_bench", "build", "-b", "mom-mini", "--from", str(tmp_path),
                           "--out", str(tmp_path / "x")], capture_output=True, text=True)
    assert done.returncode == 2 and "--from names the build" in done.stderr


# --------------------------------------------------------------------------------------------------
# the column's contract for every other build


def test_builds_without_segments_keep_their_fingerprints():
    rows = [{"id": "a", "split": "train", "label": 0, "generator": "real", "content_sha256": "x"},
            {"id": "b", "split": "test_id", "label": 1, "generator": "g", "content_sha256": "y"}]

    def digest(lines):
        return hashlib.sha256(("\n".join(sorted(lines)) + "\n").encode()).hexdigest()

    assert fingerprint(rows) == digest(["a\ttrain\t0\treal\tx", "b\ttest_id\t1\tg\ty"])
    assert label_fingerprint(rows) == digest(["a\ttrain\t0\treal", "b\ttest_id\t1\tg"])
    rows[1]["segments_json"] = json.dumps([[0.0, 1.0, 0, "real"], [1.0, 2.0, 1, "g"]])
    assert label_fingerprint(rows) == digest(["a\ttrain\t0\treal",
                                              "b\ttest_id\t1\tg\t0.000000,1.000000,0,real;1.000000,2.000000,1,g"])


def test_rows_without_segments_keep_their_identity():
    row = SourceRow(id="a", label=1, generator="g", source="g", group_key="k", meta={"x": 1}, split="train",
                    stamp="s")
    text = json.dumps(["a", 1, "g", "g", "k", {"x": 1}, "train", "s"], sort_keys=True, ensure_ascii=False)
    assert row_identity(row) == hashlib.sha256(text.encode()).hexdigest()[:32]
    with_segments = SourceRow(**{**row.__dict__, "segments": ((0.0, 1.0, 1, "g"),)})
    moved = SourceRow(**{**row.__dict__, "segments": ((0.0, 1.5, 1, "g"),)})
    assert len({row_identity(row), row_identity(with_segments), row_identity(moved)}) == 3


def test_from_base_is_only_for_derived_source_kinds(tmp_path):
    raw = yaml.safe_load(protocols.path_of("mom-mini").read_text())
    raw["generators"] = protocols.FROM_BASE
    path = tmp_path / "bench.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ProtocolError, match="from-base needs a source kind"):
        protocols.load(str(path))
    raw = yaml.safe_load(protocols.path_of("splice").read_text())
    raw["reals"] = [{"id": "r", "name": "r"}]
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ProtocolError, match="reals: a splice benchmark takes them from the build"):
        protocols.load(str(path))
