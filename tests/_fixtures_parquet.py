"""Tiny copies of the Hub-hosted corpora in their documented layouts, for the corpus tests: real Parquet files with
audio bytes in their cells (AIME: a ``datasets.Audio`` struct of WAV bytes; ArtifactBench: ``audio_bytes`` of
FLAC / MP3), MUSIC8K's MP3 folders, ids with leading zeros, the repo's junk files, one corrupted audio cell each.

Each ``*_repo`` function returns ``{repo path: bytes}``: written under a folder it is a local copy (``--root``),
put in the loopback Hub (:func:`serve`) it is the dataset repo at the protocol's pinned revision. Reals are soft
low tones and fakes noisy bright signals (tests/_fixtures_loop.py), so a tiny brightness detector separates them.
"""
from __future__ import annotations

import functools
import hashlib
import io
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import torch

from tests._fixtures_loop import signal

RATE = 24000
SECONDS = 1.0
JUNK = {".gitattributes": b"*.parquet filter=lfs diff=lfs merge=lfs -text\n", "README.md": b"---\nlicense: x\n---\n"}


def encoded(kind: str, seed: int, fmt: str, rate: int = RATE) -> bytes:
    """``SECONDS`` of the fixture signal ``kind`` (``real`` or a fake kind) encoded as ``fmt`` by torchcodec."""
    from torchcodec.encoders import AudioEncoder

    x = signal(kind, SECONDS + 0.05 * (seed % 4), seed)
    return AudioEncoder(x[None].to(torch.float32), sample_rate=rate).to_tensor(format=fmt).numpy().tobytes()


def parquet_bytes(table: pa.Table, row_group_size: int) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink, row_group_size=row_group_size)
    return sink.getvalue()


def write_tree(files: dict[str, bytes], folder: Path) -> Path:
    for rel, data in files.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return folder


def serve(hub, repo_id: str, revision: str, files: dict[str, bytes]) -> None:
    """Put ``files`` in the loopback Hub ``hub`` (tests/_loopback_hub.py) as dataset ``repo_id`` at commit
    ``revision`` (also ``main``)."""
    from tests._loopback_hub import Repo

    repo = Repo(private=False)
    repo.commits[revision] = dict(files)
    repo.refs["main"] = revision
    hub.repos[("dataset", repo_id)] = repo


def prompts_by_split(protocol_name: str, n_per_split: dict[str, int], make) -> list[tuple]:
    """(prompt value, split) pairs (``make(i)`` gives the value and its group key, i = 0, 1, ...) chosen so that
    the protocol's prompt split (mom_bench.dataset.sources.shared_prompts) puts ``n_per_split[split]`` of them
    in each split."""
    from mom_bench.dataset import protocols
    from mom_bench.dataset.sources.shared_prompts import place

    protocol = protocols.load(protocol_name)
    want, out, i = dict(n_per_split), [], 0
    while any(want.values()):
        value, key = make(i)
        split = place(protocol, key, "x", 0, False).split
        if want.get(split, 0) > 0:
            want[split] -= 1
            out.append((value, split))
        i += 1
    return out


# --------------------------------------------------------------------------------------------------
# AIME: data/train-NNNNN-of-00210.parquet with id (string), model, description (list of 3 tags), audio {bytes, path}

AIME_REVISION = "b84d4be5eda830b6eb714998569dba73530f2601"
AIME_SHARDS = {0: ["MTG-Jamendo", "MusicGen Small"], 1: ["Udio"], 2: ["Stable Audio v1"]}
AIME_SPLITS = {"train": 2, "validation": 1, "test_id": 1, "test_ood": 2}


@functools.lru_cache(maxsize=1)
def aime_prompts() -> list[tuple[list[str], str]]:
    from mom_bench.dataset.sources.aime import prompt_key

    def make(i):
        tags = [f"genre---g{i}", f"instrument---i{i % 5}", f"mood/theme---m{i % 3}"]
        return tags, prompt_key("aime", tags)
    return prompts_by_split("aime", AIME_SPLITS, make)


def aime_id(model_index: int, prompt: int) -> str:
    return f"{model_index:02d}{prompt:03d}"  # leading zeros, as the corpus' ids have


def aime_corrupt() -> tuple[str, int]:
    """(model, prompt index) of the fixture row whose audio cell holds garbage: a Udio render of a train prompt."""
    return "Udio", next(p for p, (_tags, split) in enumerate(aime_prompts()) if split == "train")


def aime_repo(corrupt: tuple[str, int] | None = None) -> dict[str, bytes]:
    """The AIME fixture repo: one shard per group of models (as the corpus' shards are mostly one provider),
    row groups of 3 rows, and ``corrupt`` = (model, prompt) whose audio cell holds garbage (default
    :func:`aime_corrupt`)."""
    prompts = [tags for tags, _split in aime_prompts()]
    corrupt = corrupt or aime_corrupt()
    files = dict(JUNK)
    seed = 0
    models = [m for ms in AIME_SHARDS.values() for m in ms]
    for shard, shard_models in AIME_SHARDS.items():
        rows: dict[str, list] = {"id": [], "model": [], "description": [], "audio": []}
        for model in shard_models:
            m = models.index(model)
            for p, tags in enumerate(prompts):
                seed += 1
                kind = "real" if model == "MTG-Jamendo" else ("gen_ood" if model == "Stable Audio v1" else "gen_a")
                data = encoded(kind, seed, "wav")
                if corrupt == (model, p):
                    data = b"RIFF\x10\x00\x00\x00WAVEgarbage" + bytes(64)
                rows["id"].append(aime_id(m, p))
                rows["model"].append(model)
                rows["description"].append(tags)
                rows["audio"].append({"bytes": data, "path": f"{'_'.join(tags)}.wav"})
        table = pa.table({"id": pa.array(rows["id"], pa.string()), "model": pa.array(rows["model"], pa.string()),
                          "description": pa.array(rows["description"], pa.list_(pa.string())),
                          "audio": pa.array(rows["audio"], pa.struct([("bytes", pa.binary()), ("path", pa.string())]))})
        files[f"data/train-{shard:05d}-of-00210.parquet"] = parquet_bytes(table, row_group_size=3)
    return files


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def dumps(obj) -> bytes:
    return json.dumps(obj).encode()


# --------------------------------------------------------------------------------------------------
# ArtifactBench: artifactbench_v1_manifest.json + ai_tracks/shard_NNN.parquet (track_id, audio_bytes, source,
# generator, format) + v2/artifactbench_v2_primary_manifest.json; reals as YouTube / FMA ids

AB_REVISION = "73f0f61d4ecf68ccb141c941a958a56f14677ba5"
# (source, manifest generator, fixture signal, format, how many)
AB_AI = [("aime_musicgen_small", "MusicGen Small", "gen_a", "flac", 4), ("mom_yue", "YuE", "gen_b", "mp3", 3),
         ("suno_cdn_latest", "Suno CDN Latest", "gen_b", "mp3", 3),
         ("aime_stable_audio_v1", "Stable Audio v1", "gen_ood", "flac", 3)]
AB_REAL_SPLITS = {"train": 3, "validation": 1, "test_id": 2, "test_ood": 2}


def ab_track_id(source: str, k: int) -> str:
    if source.startswith("suno_cdn"):
        return f"Song Title {k}_{k:08x}"  # CDN titles: spaces, not a valid mom-bench id as they are
    return f"{hashlib.sha256(f'{source}{k}'.encode()).hexdigest()[:16]}_{k:05d}"


def ab_lineage(track_id: str) -> str:
    """The v2 ``lineage_id`` the fixture gives a track (the release script's form, ``ab2l-<20 hex>``)."""
    return f"ab2l-{sha256(track_id.encode())[20:40]}"


@functools.lru_cache(maxsize=1)
def ab_reals() -> list[tuple[str, str, str, str]]:
    """(source, track_id, the id a user's copy is named by, split) of the fixture's reals: YouTube ids (with '-'
    and '_') and FMA ids (6 digits, leading zeros), chosen so that the strict split (by v2 lineage) fills every
    split."""
    def make(i):
        if i % 3 == 2:
            source, uid = "fma_hardneg", f"{100 + i:06d}"
        else:
            source, uid = ("sonics_real", "mom_real_wav")[i % 2], f"-yt_{i:04d}Xq"
        tid = f"{hashlib.sha256(uid.encode()).hexdigest()[:16]}_{uid}"
        return (source, tid, uid), f"artifactbench:lineage={ab_lineage(tid)}"
    return [(*value, split) for value, split in prompts_by_split("artifactbench", AB_REAL_SPLITS, make)]


def ab_corrupt() -> str:
    """track_id of the AI track whose audio cell holds garbage."""
    return ab_track_id("mom_yue", 1)


AB_MISSING_AI = "feedfacefeedface_09999"  # listed in the manifest, in no shard


def ab_repo(with_v2: bool = True) -> dict[str, bytes]:
    files = dict(JUNK)
    bench, seed = [], 0
    shards: list[dict[str, list]] = [{k: [] for k in ("track_id", "audio_bytes", "source", "generator", "format")}
                                     for _ in range(2)]
    for n, (source, gen, kind, fmt, count) in enumerate(AB_AI):
        for k in range(count):
            seed += 1
            tid = ab_track_id(source, k)
            data = b"\xff\xfb" + bytes(40) if tid == ab_corrupt() else encoded(kind, seed, fmt)
            shard = shards[n % 2]
            for col, value in (("track_id", tid), ("audio_bytes", data), ("source", source), ("generator", gen),
                               ("format", fmt)):
                shard[col].append(value)
            bench.append({"path": f"/media/author/ai/{source}/{k:05d}.{fmt}", "label": "ai", "source": source,
                          "track_id": tid, "bench_origin": ("test", "train")[k % 2], "generator": gen})
    bench.append({"path": "/media/author/ai/mom_yue/09999.mp3", "label": "ai", "source": "mom_yue",
                  "track_id": AB_MISSING_AI, "bench_origin": "test", "generator": "YuE"})
    for i, (source, tid, uid, _split) in enumerate(ab_reals()):
        bench.append({"path": f"/media/author/{source}/{uid}.wav", "label": "real", "source": source,
                      "track_id": tid, "bench_origin": ("test", "train")[i % 2], "generator": "real"})
    manifest = {"bench": bench, "metadata": {"name": "ArtifactBench v1", "version": "1.0.1", "total": len(bench)}}
    files["artifactbench_v1_manifest.json"] = dumps(manifest)
    for i, shard in enumerate(shards):
        table = pa.table({"track_id": pa.array(shard["track_id"], pa.string()),
                          "audio_bytes": pa.array(shard["audio_bytes"], pa.binary()),
                          "source": pa.array(shard["source"], pa.string()),
                          "generator": pa.array(shard["generator"], pa.string()),
                          "format": pa.array(shard["format"], pa.string())})
        files[f"ai_tracks/shard_{i:03d}.parquet"] = parquet_bytes(table, row_group_size=2)
    if with_v2:
        tracks = []
        for k, e in enumerate(bench[:-1]):  # the last real is outside the v2 protocol
            retrieval = {"mode": "digest_match_from_upstream", "upstream": "intrect/artifactbench-v1"}
            if e["source"].startswith("aime_"):
                retrieval["upstream"] = "disco-eth/AIME"
            tracks.append({"track_id": f"ab2-{sha256(e['track_id'].encode())[:20]}", "label": e["label"],
                           "source": e["source"], "protocol_split": ("calibration", "validation", "test")[k % 3],
                           "lineage_id": ab_lineage(e["track_id"]),
                           "legacy_track_id_sha256": sha256(e["track_id"].encode()), "retrieval": retrieval})
        files["v2/artifactbench_v2_primary_manifest.json"] = dumps({"schema_version": 2, "tracks": tracks})
    return files


def ab_reals_folder(folder: Path, skip: int = 1) -> Path:
    """The user's copies of the fixture's reals, named by their YouTube / FMA id; the last ``skip`` are left out."""
    from tests._build_fixtures import write_audio

    for i, (source, _tid, uid, _split) in enumerate(ab_reals()[:len(ab_reals()) - skip]):
        ext = "mp3" if source == "fma_hardneg" else "wav"
        write_audio(folder / source / f"{uid}.{ext}", signal("real", SECONDS, 500 + i), RATE)
    return folder


# --------------------------------------------------------------------------------------------------
# MUSIC8K: <generator folder>/<item id>.mp3 or <folder>/<item id>/<name>.mp3, metadata/ CSV and JSONL

M8K_REVISION = "05232438ba76a7bc55cbebfdc6d5f4011c980bba"
# folder -> (fixture signal, per-item sub-folders)
M8K_FOLDERS = {"acestep1.5": ("gen_a", False), "mureka_v9": ("gen_b", False), "heartmula": ("gen_ood", True)}
M8K_SPLITS = {"train": 2, "validation": 1, "test_id": 1, "test_ood": 2}


@functools.lru_cache(maxsize=1)
def m8k_items() -> list[tuple[str, str]]:
    """(item id with leading zeros, split) of the fixture's items, spread over every split."""
    return prompts_by_split("music8k", M8K_SPLITS, lambda i: (f"{i * 7:05d}", f"music8k:item={i * 7:05d}"))


def m8k_corrupt() -> str:
    """Repo path of the MP3 holding garbage: a Mureka render of a train item."""
    return f"mureka_v9/{next(i for i, s in m8k_items() if s == 'train')}.mp3"


def m8k_repo() -> dict[str, bytes]:
    files = {**JUNK, "mureka_v9/.DS_Store": b"\0\0\0\1Bud1"}
    seed = 0
    for folder, (kind, nested) in M8K_FOLDERS.items():
        for item, _split in m8k_items():
            seed += 1
            rel = f"{folder}/{item}/{item}.mp3" if nested else f"{folder}/{item}.mp3"
            files[rel] = b"ID3\x03\x00garbage" + bytes(200) if rel == m8k_corrupt() else encoded(kind, seed, "mp3")
    lines = ["id,artist,lyrics"] + [f'{item},Artist {k},"la la, la"' for k, (item, _) in enumerate(m8k_items())]
    files["metadata/pop_1000_unique_artist.csv"] = ("\n".join(lines) + "\n").encode()
    files["metadata/songs_musiccaps.jsonl"] = b"".join(
        dumps({"id": item, "lyrics": "", "caption": f"a calm piece {k}"}) + b"\n"
        for k, (item, _) in enumerate(m8k_items()[:2]))
    return files


def m8k_reals_folder(folder: Path, skip: int = 1) -> Path:
    """Your copies of the pop items' reference songs, named ``<item id>.wav``; the last ``skip`` left out."""
    from tests._build_fixtures import write_audio

    items = m8k_items()
    for k, (item, _split) in enumerate(items[:len(items) - skip]):
        write_audio(folder / f"{item}.wav", signal("real", SECONDS, 900 + k), RATE)
    return folder
