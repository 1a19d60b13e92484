"""mom-mini is one benchmark, not one per machine: its splits hold every pool of reals, stems never cross
splits, and two builds in different processes, under the code paths of different CPU kinds, store the same
bytes. (The committed fingerprint of the whole build is checked in test_mini.py, on its full build.)"""
import json
import os
import subprocess
import sys
from collections import Counter, defaultdict

import pytest

from mom_bench.core.splits import SPLITS
from mom_bench.dataset import protocols
from mom_bench.dataset.sources.mom_mini import MomMiniSource

# The capability settings of scripts/check_mom_mini_fingerprint.py: another CPU's kernels, on this one.
AVX2_PATHS = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2",
              "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR", "OPENBLAS_CORETYPE": "Haswell"}


@pytest.fixture(scope="module")
def source():
    protocol = protocols.load("mom-mini")
    return MomMiniSource(protocol, {k: v for k, v in protocol.source.items() if k != "kind"})


def test_every_split_holds_reals_of_every_pool(source):
    plans = source.plan()
    pools = {p.excerpt.pool for p in plans}
    assert len(pools) >= 2
    for split in SPLITS:
        assert {p.excerpt.pool for p in plans if p.split == split} == pools, split
    tracks = defaultdict(set)
    for p in plans:
        tracks[p.excerpt.track_id].add(p.split)
    assert all(len(s) == 1 for s in tracks.values())  # a track, its clips and their fakes: one split


def test_each_real_clip_has_one_fake_and_families_take_turns(source):
    plans = source.plan()
    reals = Counter(p.split for p in plans if p.generator is None)
    fakes = Counter(p.split for p in plans if p.generator is not None)
    assert reals == fakes
    ood = {g.id for g in source.protocol.generators if g.is_ood}
    per_split = defaultdict(Counter)
    for p in plans:
        if p.generator:
            per_split[p.split][p.generator] += 1
            assert (p.generator in ood) == (p.split == "test_ood"), p
    for split, counts in per_split.items():
        assert max(counts.values()) - min(counts.values()) <= 1, (split, counts)


def test_stems_are_dealt_to_one_split_each(source):
    fam = source.family("machine_vocals")
    dealt = {split: source.stems_of(fam, split) for split in SPLITS}
    assert all(dealt.values())
    flat = [s for stems in dealt.values() for s in stems]
    assert sorted(flat) == sorted(fam.stem_ids) and len(set(flat)) == len(flat)


def test_unknown_source_option_is_named():
    protocol = protocols.load("mom-mini")
    with pytest.raises(ValueError, match="clip_secs"):
        MomMiniSource(protocol, {"clip_secs": 4})


_BUILD = """
import json, sys
from mom_bench.dataset import build_benchmark
r = build_benchmark("mom-mini", sys.argv[1], progress=False,
                    source_options={"excerpts_per_track": 1, "clips_per_excerpt": 1})
rep = json.load(open(sys.argv[1] + "/build_report.json"))
print(json.dumps({"audio": rep["audio_fingerprint"], "written": r.n_written}))
"""


@pytest.mark.slow
def test_two_builds_in_other_processes_and_cpu_paths_store_the_same_bytes(tmp_path):
    import pyarrow.parquet as pq

    outs = []
    for i, extra in enumerate(({"OMP_NUM_THREADS": "2"}, {**AVX2_PATHS, "OMP_NUM_THREADS": "1"})):
        env = {**os.environ, "MOM_BENCH_HOME": str(tmp_path / f"home{i}"), "HF_HUB_OFFLINE": "1", **extra}
        out = tmp_path / f"mini{i}"
        done = subprocess.run([sys.executable, "-c", _BUILD, str(out)], env=env, capture_output=True, text=True,
                              timeout=900)
        assert done.returncode == 0, done.stderr[-3000:]
        outs.append((json.loads(done.stdout.strip().splitlines()[-1]), out))
    (a, out_a), (b, out_b) = outs
    assert a == b and a["written"] > 0

    def audio(out):
        rows = {}
        for part in sorted((out / "data").glob("*.parquet")):
            t = pq.read_table(part, columns=["id", "audio"]).to_pylist()
            rows.update({r["id"]: r["audio"]["bytes"] for r in t})
        return rows

    assert audio(out_a) == audio(out_b)


def test_leave_one_family_out_variant_holds_out_that_family_only():
    from mom_bench.models import registry

    base = protocols.load("mom-mini")
    fold = protocols.load("mom-mini-lofo-rvq_codec")
    assert fold.name == "mom-mini-lofo-rvq_codec" and fold.base == "mom-mini"
    assert fold.ood_generators == ["rvq_codec"] and len(fold.generators) == len(base.generators)
    assert "audio_fingerprint" not in fold.raw  # a variant is other audio than the published build
    assert registry.resolve("clam", benchmark=fold.name).name == "clam-mini"
    plans = MomMiniSource(fold, {}).plan()
    assert {p.generator for p in plans if p.split == "test_ood" and p.generator} == {"rvq_codec"}
    assert {p.generator for p in plans if p.split == "train" and p.generator} == set(fold.ood_generators) ^ {
        g.id for g in base.generators}
    reals = {(p.clip.id, p.split) for p in MomMiniSource(base, {}).plan() if p.generator is None}
    assert {(p.clip.id, p.split) for p in plans if p.generator is None} == reals  # same reals, same splits


def test_variants_are_refused_where_undeclared_or_unknown():
    with pytest.raises(protocols.ProtocolError, match="no leave-one-family-out"):
        protocols.load("mom-lofo-suno")
    with pytest.raises(protocols.ProtocolError, match="not a generator of mom-mini"):
        protocols.load("mom-mini-lofo-nope")
