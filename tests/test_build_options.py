"""--max-seconds, --keep-original and in-memory waveforms from a source."""
from __future__ import annotations

import pyarrow.parquet as pq
import pytest
from _build_fixtures import make_benchmark

from mom_bench.core import audio
from mom_bench.dataset import BuildError, build_benchmark
from mom_bench.dataset.process import process


def _rows(out):
    rows = {}
    for f in (out / "data").glob("*.parquet"):
        for r in pq.read_table(f).to_pylist():
            rows[r["id"]] = r
    return rows


def test_max_seconds_stores_only_the_start(tmp_path):
    proto, table = make_benchmark(tmp_path / "b", n_real=2, n_fake=2, n_ood=1, seconds=2.0)
    build_benchmark(str(proto), tmp_path / "o", source_options={"csv": str(table)}, progress=False, max_seconds=0.5)
    for r in _rows(tmp_path / "o").values():
        assert r["duration_s"] == pytest.approx(0.5, abs=1e-3)
        assert r["orig_duration_s"] == pytest.approx(2.0, abs=0.1)
        assert audio.load(r["audio"]["bytes"]).samples.numel() == 8000


def test_keep_original_stores_the_input_bytes(tmp_path):
    proto, table = make_benchmark(tmp_path / "b", n_real=2, n_fake=2, n_ood=1)
    build_benchmark(str(proto), tmp_path / "o", source_options={"csv": str(table)}, progress=False, keep_original=True)
    rows = _rows(tmp_path / "o")
    r = rows["real_000"]
    assert r["audio"]["bytes"] == (tmp_path / "b" / "audio" / "real_000.wav").read_bytes()
    assert r["audio"]["path"].endswith(".wav")
    with pytest.raises(BuildError, match="keep-original"):
        build_benchmark(str(proto), tmp_path / "o2", source_options={"csv": str(table)}, progress=False,
                        keep_original=True, max_seconds=1.0)


def test_waveform_rows_are_resampled_and_hashed_like_files():
    import numpy as np

    rate = 48000
    t = np.arange(rate) / rate
    wave = (0.25 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    out = process("w", (np.stack([wave, wave]), rate), sample_rate=24000)
    assert out["status"] == "written"
    assert (out["orig_codec"], out["orig_sample_rate"], out["orig_channels"]) == ("pcm_f32", 48000, 2)
    decoded = audio.load(out["audio_bytes"])
    assert decoded.sample_rate == 24000 and decoded.samples.numel() == 24000
    bad = process("nan", (np.full(100, np.nan, dtype=np.float32), rate), sample_rate=24000)
    assert bad["status"] == "unusable" and "non-finite" in bad["reason"]


def _with_rows(tmp_path, rows):
    proto, table = make_benchmark(tmp_path / "b", n_real=2, n_fake=2, n_ood=1)
    with open(table, "a") as fh:
        for r in rows:
            fh.write(",".join(r) + "\n")
    return proto, table


def test_preassigned_split_is_kept_when_it_obeys_the_rules(tmp_path):
    # id,label,generator,source,path,artist,group,split: a real and its fake paired in one group
    proto, table = _with_rows(tmp_path, [["pair_real", "0", "real", "real", "audio/real_000.wav", "", "p1", "test_id"],
                                         ["pair_fake", "1", "gen_a", "gen_a", "audio/fake_000.mp3", "", "p1", ""]])
    build_benchmark(str(proto), tmp_path / "o", source_options={"csv": str(table)}, progress=False)
    rows = _rows(tmp_path / "o")
    assert rows["pair_real"]["split"] == rows["pair_fake"]["split"] == "test_id"


@pytest.mark.parametrize("extra, message", [
    ([["leak", "1", "gen_ood", "gen_ood", "audio/ood_000.mp3", "", "", "train"]], "OOD generators may only appear"),
    ([["a1", "0", "real", "real", "audio/real_000.wav", "", "g", "train"],
      ["a2", "0", "real", "real", "audio/real_001.mp3", "", "g", "test_id"]], "several splits"),
])
def test_preassigned_splits_that_leak_fail_the_build(tmp_path, extra, message):
    proto, table = _with_rows(tmp_path, extra)
    with pytest.raises(BuildError, match=message):
        build_benchmark(str(proto), tmp_path / "o", source_options={"csv": str(table)}, progress=False)
