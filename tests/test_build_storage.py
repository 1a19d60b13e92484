"""Issue 14 item 5: `build --store original|flac` and the disk preflight.

`--store original` keeps each input file's bytes (decoded at build time to check it); the preflight estimates
the bytes a build needs at its peak before writing anything and refuses when the output folder's filesystem
has less free. Free space is read only by `mom_bench.dataset.storage.free_bytes`, which these tests replace to
pose as a small disk.
"""
from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import torch
from _build_fixtures import make_benchmark
from click.testing import CliRunner

from mom_bench.cli import main
from mom_bench.core import audio
from mom_bench.dataset import BuildError, build_benchmark, storage
from mom_bench.dataset.sources import open_source

RATE = 16000  # the rate of _build_fixtures' protocol


@pytest.fixture
def bench(tmp_path):
    proto, table = make_benchmark(tmp_path / "b", n_real=3, n_fake=3, n_ood=2)
    return tmp_path, proto, table


def _cli(proto, table, out, *extra):
    return CliRunner().invoke(main, ["build", "-b", str(proto), "-o", f"csv={table}", "--out", str(out), "-q",
                                     *extra])


def _stored(out: Path) -> dict[str, dict]:
    return {r["id"]: r for f in sorted((out / "data").glob("*.parquet")) for r in pq.read_table(f).to_pylist()}


def _sources(table: Path) -> dict[str, Path]:
    with open(table, newline="") as fh:
        return {r["id"]: table.parent / r["path"] for r in csv.DictReader(fh)}


def _small_disk(monkeypatch, free: int) -> list[Path]:
    """Pose as a filesystem with ``free`` bytes free; returns the paths asked about."""
    asked: list[Path] = []

    def fake(path):
        asked.append(Path(path))
        return free

    monkeypatch.setattr(storage, "free_bytes", fake)
    return asked


def _estimates(proto, table, *, cap_s=None) -> dict[str, int]:
    """The preflight's peak figures of a fresh build of every listed row, per store."""
    from mom_bench.dataset import protocols

    protocol = protocols.load(str(proto))
    rows = list(open_source(protocol, {"csv": str(table)}).rows())
    inputs = storage.survey(rows, lookup=True, cap_s=cap_s)
    assert isinstance(inputs, storage.Inputs)
    ids = [r.id for r in rows]
    return {s: storage.peak_bytes(inputs, ids, ids, store=s, sample_rate=RATE, cap_s=cap_s)
            for s in ("flac", "original")}


def test_store_original_keeps_each_file_and_decodes_like_it(bench):
    """the stored bytes are the source file's bytes, decoding them gives bit-identical samples to decoding the
    file, and the report and the data card say which store was used"""
    tmp_path, proto, table = bench
    out = tmp_path / "o"
    res = _cli(proto, table, out, "--store", "original")
    assert res.exit_code == 0, res.output
    stored, sources = _stored(out), _sources(table)
    assert set(stored) == set(sources)
    for rid, row in stored.items():
        src = sources[rid]
        assert row["audio"]["bytes"] == src.read_bytes(), rid
        assert row["audio"]["path"].endswith(src.suffix)
        from_db, from_file = audio.load(row["audio"]["bytes"], RATE), audio.load(src, RATE)
        assert torch.equal(from_db.samples, from_file.samples), rid
    report = json.loads((out / "build_report.json").read_text())
    assert report["options"]["keep_original"] is True and report["audio"]["keep_original"] is True
    card = (out / "README.md").read_text()
    assert "`--store original`" in card and "mono FLAC" not in card

    # the older flag is the same build: reused as it is
    assert _cli(proto, table, out, "--keep-original").exit_code == 0
    again = build_benchmark(str(proto), out, source_options={"csv": str(table)}, progress=False, keep_original=True)
    assert again.reused


def test_store_flac_is_the_default_and_says_so(bench):
    tmp_path, proto, table = bench
    out = tmp_path / "o"
    result = build_benchmark(str(proto), out, source_options={"csv": str(table)}, progress=False, store="flac")
    assert result.ok
    assert all(r["audio"]["path"].endswith(".flac") for r in _stored(out).values())
    assert "`--store flac`" in (out / "README.md").read_text()
    assert build_benchmark(str(proto), out, source_options={"csv": str(table)}, progress=False).reused


def test_store_original_with_max_seconds_is_refused_naming_what_to_use(bench):
    tmp_path, proto, table = bench
    with pytest.raises(BuildError, match=re.escape("use --store flac --max-seconds 90")):
        build_benchmark(str(proto), tmp_path / "o", source_options={"csv": str(table)}, progress=False,
                        store="original", max_seconds=90)
    res = _cli(proto, table, tmp_path / "o", "--keep-original", "--store", "flac")
    assert res.exit_code == 2 and "--keep-original means --store original" in res.output
    with pytest.raises(BuildError, match="unknown store 'mp3'"):
        build_benchmark(str(proto), tmp_path / "o", source_options={"csv": str(table)}, progress=False, store="mp3")
    assert not (tmp_path / "o").exists()


def test_a_build_that_cannot_fit_is_refused_before_writing_anything(bench, monkeypatch):
    """needed vs free in the message, the options that would fit, how to override; no folder made"""
    tmp_path, proto, table = bench
    est = _estimates(proto, table)
    est90 = _estimates(proto, table, cap_s=90)["flac"]
    assert est["original"] != est["flac"]
    low, high = sorted([est["original"], est["flac"]])
    fitting = "original" if est["original"] < est["flac"] else "flac"
    out = tmp_path / "new" / "o"
    asked = _small_disk(monkeypatch, low)  # the smaller store fits, the other does not

    other = "flac" if fitting == "original" else "original"
    res = _cli(proto, table, out, "--store", other)
    assert res.exit_code == 2, res.output
    msg = " ".join(res.output.split())
    assert msg.startswith("error: not enough disk space for this build in")
    assert f"needs about {storage.human_bytes(high)} at its peak" in msg
    assert f"has {storage.human_bytes(low)} free" in msg
    offer = "--store original" if fitting == "original" else "--store flac"
    assert re.search(rf"Would fit: {re.escape(offer)} [^.;]*needs about {re.escape(storage.human_bytes(low))}", msg)
    assert est90 == est["flac"] and "--max-seconds 90" not in msg  # the tones are shorter: it would save nothing
    assert "--no-space-check" in msg and "--limit" in msg
    assert not (tmp_path / "new").exists() and asked and all(p == out for p in asked)

    # the same numbers from the library, as the error type a caller can catch
    with pytest.raises(storage.NotEnoughSpace, match="not enough disk space"):
        build_benchmark(str(proto), out, source_options={"csv": str(table)}, progress=False, store=other)
    assert not (tmp_path / "new").exists()


def test_a_build_that_fits_passes_and_no_space_check_overrides(bench, monkeypatch, capsys):
    tmp_path, proto, table = bench
    est = _estimates(proto, table)
    _small_disk(monkeypatch, est["flac"])  # exactly enough
    result = build_benchmark(str(proto), tmp_path / "fits", source_options={"csv": str(table)})
    assert result.ok and result.n_written == 8
    line = next(text for text in capsys.readouterr().err.splitlines() if text.startswith("disk: "))
    assert f"needs about {storage.human_bytes(est['flac'])} at its peak" in line
    assert "rows to make: 8, to write: 8" in line

    _small_disk(monkeypatch, 1000)
    out = tmp_path / "over"
    res = _cli(proto, table, out, "--no-space-check")
    assert res.exit_code == 0, res.output
    assert len(_stored(out)) == 8
    assert build_benchmark(str(proto), tmp_path / "lib", source_options={"csv": str(table)}, progress=False,
                           space_check=False).ok


def test_the_estimate_is_not_below_what_a_build_writes(bench):
    """the journal and the shards together (the peak, just before the swap) stay within the estimate"""
    tmp_path, proto, table = bench
    est = _estimates(proto, table)
    for store in ("flac", "original"):
        out = tmp_path / store
        build_benchmark(str(proto), out, source_options={"csv": str(table)}, progress=False, store=store,
                        keep_staging=True)
        written = sum(f.stat().st_size for f in (out / "data").glob("*.parquet"))
        written += sum(f.stat().st_size for f in (out / ".build" / "staging").glob("*.parquet"))
        assert written <= est[store] - storage.FIXED_OVERHEAD, store


def test_a_rebuild_counts_only_the_rows_still_to_make(bench, monkeypatch, capsys):
    """an updated build needs the journal of its new rows only (the others are already on the disk), plus
    the shards of every row"""
    tmp_path, proto, table = bench
    out = tmp_path / "o"
    build_benchmark(str(proto), out, source_options={"csv": str(table)}, progress=False)
    with open(table, newline="") as fh:
        rows = list(csv.DictReader(fh))
    with open(table, "a", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writerow({**rows[0], "id": "real_extra", "artist": "artist_new"})
    capsys.readouterr()
    assert build_benchmark(str(proto), out, source_options={"csv": str(table)}).ok
    line = next(text for text in capsys.readouterr().err.splitlines() if text.startswith("disk: "))
    assert "rows to make: 1, to write: 9" in line

    _small_disk(monkeypatch, 1000)  # a refused update leaves the finished build as it was
    before = {p: p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
    with open(table, "a", newline="") as fh:
        csv.DictWriter(fh, fieldnames=list(rows[0])).writerow({**rows[1], "id": "real_extra2", "artist": "a2"})
    with pytest.raises(storage.NotEnoughSpace, match="not enough disk space"):
        build_benchmark(str(proto), out, source_options={"csv": str(table)}, progress=False)
    assert {p: p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()} == before


def test_generated_sources_are_counted_at_their_cap_or_skipped(tmp_path):
    """rows synthesised while building have no file to measure: counted at the stored-length cap, else the
    check says why it is skipped"""
    from mom_bench.dataset.sources import SourceRow

    rows = [SourceRow(id=f"r{i}", label=0, generator="real", source="s", group_key=f"g{i}") for i in range(3)]
    skipped = storage.survey(rows, lookup=False, cap_s=None)
    assert isinstance(skipped, str) and "not known beforehand" in skipped
    capped = storage.survey(rows, lookup=False, cap_s=10.0)
    assert isinstance(capped, storage.Inputs) and capped.seconds == {"r0": 10.0, "r1": 10.0, "r2": 10.0}
    one = storage.stored_bytes(capped, ["r0"], store="flac", sample_rate=24000, cap_s=10.0)
    assert one == int(10 * 24000 * 2 * storage.FLAC_RATIO + storage.ROW_OVERHEAD)
    assert storage.free_bytes(tmp_path / "not" / "yet") == storage.free_bytes(tmp_path) > 0


def test_long_songs_are_offered_the_first_90_s(tmp_path, monkeypatch):
    """for full songs longer than CLAM's 90 s, the refusal names --max-seconds 90 and what it needs"""
    ids = [f"s{i}" for i in range(100)]
    # 4-minute songs as 128 kbit/s MP3s
    inputs = storage.Inputs(sizes={i: 240 * 16_000 for i in ids}, seconds={i: 240.0 for i in ids}, how="test")
    full = storage.peak_bytes(inputs, ids, ids, store="flac", sample_rate=24000, cap_s=None)
    first90 = storage.peak_bytes(inputs, ids, ids, store="flac", sample_rate=24000, cap_s=90.0)
    original = storage.peak_bytes(inputs, ids, ids, store="original", sample_rate=24000, cap_s=None)
    assert max(original, first90) < full
    _small_disk(monkeypatch, max(original, first90))
    with pytest.raises(storage.NotEnoughSpace) as refused:
        storage.check_space(tmp_path, inputs, ids, ids, store="flac", sample_rate=24000, cap_s=None,
                            original_allowed=True)
    msg = str(refused.value)
    assert (f"Would fit: --store original (each input file as it is, whole) needs about "
            f"{storage.human_bytes(original)}; "
            f"--store flac --max-seconds 90 (for jobs that use only the first 90 s, as CLAM does) needs about "
            f"{storage.human_bytes(first90)}.") in msg
    assert f"needs about {storage.human_bytes(full)} at its peak" in msg
    # a protocol that stores only the start of each song offers no --store original
    with pytest.raises(storage.NotEnoughSpace) as refused:
        storage.check_space(tmp_path, inputs, ids, ids, store="flac", sample_rate=24000, cap_s=None,
                            original_allowed=False)
    assert "--store original" not in str(refused.value)
    assert storage.check_space(tmp_path, inputs, ids, ids, store="flac", sample_rate=24000, cap_s=90.0,
                               original_allowed=True).startswith("disk: ")
