"""Feature cache: computed once, served from disk, invalidated by any key change, resumable, no silent drops."""
from __future__ import annotations

import pytest
import torch
from torchcodec.encoders import AudioEncoder

from mom_bench.core import audio
from mom_bench.models import registry
from mom_bench.models.cache import FeatureCache, stack


@pytest.fixture(scope="module")
def songs(tmp_path_factory):
    """Five short real audio files (FLAC, 44.1 kHz stereo) of different tones."""
    folder = tmp_path_factory.mktemp("songs")
    paths = {}
    t = torch.arange(int(44100 * 2.5)) / 44100
    for i in range(5):
        wave = torch.stack([torch.sin(2 * torch.pi * (220 + 110 * i) * t), torch.sin(2 * torch.pi * 330 * t)]) * 0.3
        path = folder / f"song{i}.flac"
        AudioEncoder(wave.to(torch.float32), sample_rate=44100).to_file(str(path))
        paths[f"song{i}"] = path
    return paths


def _items(model, songs, calls=None):
    def loader(song_id, path):
        def load():
            if calls is not None:
                calls.append(song_id)
            return audio.load(path, model.sample_rate, clip=model.clip).samples
        return load
    return [(i, loader(i, p)) for i, p in songs.items()]


def test_second_call_is_served_from_disk(tmp_path, songs):
    model = registry.create("clam-tiny")
    cache = FeatureCache(tmp_path / "cache", shard_size=2)
    calls = []
    first = cache.get_or_compute(model, _items(model, songs, calls), {"dataset": "fp-1"}, batch_size=2,
                                 progress=False)
    assert cache.computed == 5 and sorted(calls) == sorted(songs)
    assert first["song0"]["mert"].shape == (3, 16) and first["song0"]["w2v"].shape == (3, 16)

    calls.clear()
    again = FeatureCache(tmp_path / "cache").get_or_compute(model, _items(model, songs, calls), {"dataset": "fp-1"},
                                                            progress=False)
    assert calls == []  # no audio decoded, no encoder run
    for i in songs:
        for s in ("mert", "w2v"):
            torch.testing.assert_close(again[i][s], first[i][s], atol=0, rtol=0)

    # the cached features are the model's own features (what evaluation would compute)
    wave = audio.load(songs["song3"], model.sample_rate, clip=model.clip).samples[None]
    with torch.no_grad():
        direct = model.extract(wave)
        torch.testing.assert_close(model.head_forward(stack([again["song3"]])), model.head_forward(direct))


@pytest.mark.parametrize("change", ["dataset", "clip", "encoder_seed", "normalize"])
def test_any_key_change_invalidates(tmp_path, songs, change):
    model = registry.create("clam-tiny")
    cache = FeatureCache(tmp_path / "cache")
    cache.get_or_compute(model, _items(model, songs), {"dataset": "fp-1"}, progress=False)
    key = {"dataset": "fp-1"}
    if change == "dataset":
        key = {"dataset": "fp-2"}
    elif change == "clip":
        model = registry.create("clam-tiny", clip="first:1")
    else:
        spec = registry.resolve("clam-tiny").config["encoders"]
        field = {"encoder_seed": ("seed", 5), "normalize": ("normalize", False)}[change]
        model = registry.create("clam-tiny", encoders={**spec, "w2v": {**spec["w2v"], field[0]: field[1]}})
    calls = []
    cache.get_or_compute(model, _items(model, songs, calls), key, progress=False)
    assert sorted(calls) == sorted(songs) and cache.computed == 5
    assert len([p for p in (tmp_path / "cache").iterdir() if p.is_dir()]) == 2


def test_interrupted_run_resumes_and_bad_items_are_reported(tmp_path, songs):
    model = registry.create("clam-tiny")
    cache = FeatureCache(tmp_path / "cache", shard_size=100)
    items = _items(model, songs)

    def broken():
        raise audio.AudioError("song2.flac", "truncated")

    bad = [(i, broken if i == "song2" else load) for i, load in items]
    with pytest.raises(audio.AudioError):
        cache.get_or_compute(model, bad, {"dataset": "fp"}, batch_size=1, progress=False)
    # what was computed before the failure was kept (written on the way out)
    calls = []
    out = cache.get_or_compute(model, [(i, load) for i, load in _items(model, songs, calls) if i != "song2"] +
                               [("song2", broken)], {"dataset": "fp"}, batch_size=1, on_error="skip",
                               progress=False)
    assert sorted(calls) == ["song3", "song4"]
    assert set(out) == {"song0", "song1", "song3", "song4"}
    assert set(cache.failures) == {"song2"} and "truncated" in cache.failures["song2"]


def test_damaged_shard_is_recomputed_not_served(tmp_path, songs):
    model = registry.create("clam-tiny")
    cache = FeatureCache(tmp_path / "cache")
    cache.get_or_compute(model, _items(model, songs), {"dataset": "fp"}, progress=False)
    (shard,) = cache.folder(model, {"dataset": "fp"}).glob("shard-*.safetensors")
    shard.write_bytes(b"not a safetensors file")
    calls = []
    cache.get_or_compute(model, _items(model, songs, calls), {"dataset": "fp"}, progress=False)
    assert sorted(calls) == sorted(songs)


def test_duplicate_ids_are_refused(tmp_path, songs):
    model = registry.create("clam-tiny")
    items = _items(model, songs)
    with pytest.raises(ValueError, match="duplicate"):
        FeatureCache(tmp_path).get_or_compute(model, items + items[:1], {"dataset": "fp"}, progress=False)


def test_default_root_is_under_the_mom_bench_cache(songs):
    from mom_bench.core import settings

    assert FeatureCache().root == settings.cache_dir() / "features"


_READER = """
import sys
from mom_bench.models import registry
from mom_bench.models.cache import FeatureCache
model = registry.create("clam-tiny")
cache = FeatureCache(sys.argv[1])
folder = cache.folder(model, {"dataset": "fp"})
print(len(cache.stored_ids(folder)), len(cache.load(folder)))
"""


def test_a_fifo_named_like_a_shard_is_skipped_not_opened(tmp_path, songs):
    """Anyone who can write into a shared cache could leave a FIFO there: opening it would block every reader
    forever, so the reader runs in its own process with a timeout and a regression fails instead of hanging."""
    import os
    import subprocess
    import sys

    model = registry.create("clam-tiny")
    cache = FeatureCache(tmp_path / "cache")
    cache.get_or_compute(model, _items(model, songs), {"dataset": "fp"}, progress=False)
    folder = cache.folder(model, {"dataset": "fp"})
    fifo = folder / "shard-0000-evil.safetensors"
    os.mkfifo(fifo)
    done = subprocess.run([sys.executable, "-c", _READER, str(tmp_path / "cache")], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["5", "5"]  # the real shard is still served
    assert str(fifo) in done.stderr and "not a regular file" in done.stderr


def test_a_link_out_of_the_cache_folder_is_not_served(tmp_path, songs):
    model = registry.create("clam-tiny")
    cache = FeatureCache(tmp_path / "cache")
    cache.get_or_compute(model, _items(model, songs), {"dataset": "fp"}, progress=False)
    folder = cache.folder(model, {"dataset": "fp"})
    (shard,) = folder.glob("shard-*.safetensors")
    outside = shard.rename(tmp_path / "elsewhere.safetensors")
    shard.symlink_to(outside)
    calls = []
    cache.get_or_compute(model, _items(model, songs, calls), {"dataset": "fp"}, progress=False)
    assert sorted(calls) == sorted(songs)  # recomputed, not read through the link
    # a link that stays inside the folder is an ordinary shard
    inside = folder / "shard-inside.safetensors"
    outside.rename(folder / "moved.safetensors")
    inside.symlink_to(folder / "moved.safetensors")
    assert set(cache.stored_ids(folder)) == set(songs)


# --------------------------------------------------------------------------------------------------
# Shards are verified, not trusted (issue 26 item 4): each one records its key, ids, batch size and a checksum;
# one that does not fit is reported with its path and reason and its songs are computed again.

#: how a real shard is damaged -> what the report must say
TAMPERS = {
    "rotated-ids": "checksum",  # ids rotated against the rows: every song gets another's features
    "permuted-rows": "checksum",
    "fewer-rows": "one row per id",
    "wrong-shape": "checksum",
    "missing-stream": "streams",
    "corrupted-bytes": "checksum",
    "no-checksum": "records no",  # as written before shards were verified
    "bad-metadata": "not valid JSON",
}


def _tamper(shard, how: str) -> None:
    """Rewrite a real shard with the safetensors library, the way a mistake or a hostile user could."""
    import json

    from safetensors import safe_open
    from safetensors.torch import save_file

    if how == "corrupted-bytes":  # one bit of the last tensor's data, in place: same size, header intact
        data = bytearray(shard.read_bytes())
        data[-3] ^= 0x10
        shard.write_bytes(bytes(data))
        return
    with safe_open(str(shard), framework="pt") as f:
        meta, tensors = f.metadata(), {n: f.get_tensor(n) for n in f.keys()}
    ids = json.loads(meta["ids"])
    if how == "rotated-ids":
        meta["ids"] = json.dumps(ids[1:] + ids[:1])
    elif how == "permuted-rows":
        tensors = {n: t.roll(1, 0) for n, t in tensors.items()}
    elif how == "fewer-rows":
        tensors = {n: t[:-1].contiguous() for n, t in tensors.items()}
    elif how == "wrong-shape":
        tensors = {n: t[..., :-1].contiguous() for n, t in tensors.items()}
    elif how == "missing-stream":
        del tensors[sorted(tensors)[-1]]
    elif how == "no-checksum":
        meta = {"ids": meta["ids"]}
    elif how == "bad-metadata":
        meta["ids"] = "[" + meta["ids"]
    save_file(tensors, str(shard), metadata=meta)


@pytest.mark.parametrize("how", TAMPERS)
def test_a_tampered_shard_is_reported_and_recomputed(tmp_path, songs, caplog, how):
    model = registry.create("clam-tiny")
    cache = FeatureCache(tmp_path / "cache")
    clean = cache.get_or_compute(model, _items(model, songs), {"dataset": "fp"}, batch_size=2, progress=False)
    (shard,) = cache.folder(model, {"dataset": "fp"}).glob("shard-*.safetensors")
    _tamper(shard, how)

    calls: list[str] = []
    with caplog.at_level("WARNING", logger="mom_bench.models.cache"):
        again = cache.get_or_compute(model, _items(model, songs, calls), {"dataset": "fp"}, batch_size=2,
                                     progress=False)
    assert sorted(calls) == sorted(songs)  # nothing of the shard served: every song computed again
    assert str(shard) in caplog.text and TAMPERS[how] in caplog.text, caplog.text
    assert cache.damaged.keys() == {shard}
    for item in songs:  # what is served equals the clean run bit for bit
        assert again[item].keys() == clean[item].keys()
        for stream, tensor in clean[item].items():
            assert torch.equal(again[item][stream], tensor), (item, stream)
    calls.clear()  # the recomputed shard then serves, the damaged file stays reported and unused
    cache.get_or_compute(model, _items(model, songs, calls), {"dataset": "fp"}, batch_size=2, progress=False)
    assert calls == []


def test_a_shard_records_its_key_ids_batch_size_and_checksum(tmp_path, songs):
    import json

    from safetensors import safe_open

    from mom_bench.models.cache import shard_checksum

    model = registry.create("clam-tiny")
    cache = FeatureCache(tmp_path / "cache")
    cache.get_or_compute(model, _items(model, songs), {"dataset": "fp"}, batch_size=2, progress=False)
    folder = cache.folder(model, {"dataset": "fp"})
    (shard,) = folder.glob("shard-*.safetensors")
    with safe_open(str(shard), framework="pt") as f:
        meta, tensors = f.metadata(), {n: f.get_tensor(n) for n in f.keys()}
    assert json.loads(meta["key"]) == json.loads((folder / "key.json").read_text())
    assert json.loads(meta["ids"]) == list(songs) and json.loads(meta["batch_size"]) == 2
    assert meta["sha256"] == shard_checksum(meta, tensors)


def _merge(loop_benchmark, model: str, code: int):
    from click.testing import CliRunner

    from mom_bench.cli import main

    result = CliRunner().invoke(main, ["extract", "--model", model, "--data", str(loop_benchmark), "--splits",
                                       "test_id", "--merge"], catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result.output


@pytest.mark.parametrize("how", ["bf16-copied", *TAMPERS])
def test_merge_counts_a_bad_shard_as_missing_and_scoring_recomputes_it(loop_benchmark, loop_run, tmp_path,
                                                                        monkeypatch, how):
    """Through the real extraction, `extract --merge` and scoring: a bad shard is never "complete" and never
    changes a score (bf16 shards copied into the fp32 folder changed 8 of 36 features; rotated ids turned a
    test_id AUC of 0.80 into 0.20)."""
    from mom_bench.dataset import read
    from mom_bench.loop.inference import feature_key_parts, split_logits

    monkeypatch.setenv("MOM_BENCH_HOME", str(tmp_path / "home"))
    model = registry.load(loop_run / "best")
    clean = split_logits(model, loop_benchmark, "test_id", progress=False)  # fills the fp32 cache
    key_parts = feature_key_parts(read.Build.open(loop_benchmark, verify=False).info, "test_id", None)
    fp32 = FeatureCache().folder(model, key_parts)
    shards = sorted(fp32.glob("shard-*.safetensors"))
    assert shards
    if how == "bf16-copied":
        split_logits(model, loop_benchmark, "test_id", progress=False, precision="bf16")
        for shard in shards:
            shard.unlink()
        shards = []
        for shard in FeatureCache().folder(model, key_parts, "bf16").glob("shard-*.safetensors"):
            shards.append(fp32 / shard.name)
            shards[-1].write_bytes(shard.read_bytes())
        reason = 'another cache key: precision "bf16" in the shard, absent in the folder\'s'
    else:
        for shard in shards:
            _tamper(shard, how)
        reason = TAMPERS[how]

    refused = _merge(loop_benchmark, str(loop_run / "best"), 2)
    assert "test_id: complete" not in refused and "internal error" not in refused
    assert all(str(shard) in refused for shard in shards) and reason in refused, refused
    assert torch.equal(split_logits(model, loop_benchmark, "test_id", progress=False), clean)
    assert "test_id: complete" in _merge(loop_benchmark, str(loop_run / "best"), 0)  # healed by the rerun
