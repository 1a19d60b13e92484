"""Inference throughput (audios/s at batch 1 and 8) and peak memory of the reference detectors.

Cases (random weights, fp32, CPU, ``--threads`` intra-op threads, default 2):

* ``spectttra-alpha-5s`` and ``spectttra-alpha-120s`` on 5 s / 120 s of 16 kHz audio;
* ``clam-extract``: CLAM with BASE-size random encoders (the paper architecture: MERT-v1-95M-shaped HuBERT +
  wav2vec2-base, all hidden states, sdpa attention) on the first 90 s at 24 kHz, plus each stream alone, plus
  the same features computed by a plain transformers pipeline (``plain_extract``) for a same-run ratio;
* ``clam-cached``: re-scoring from the feature cache (read a cache shard + the CLAM head), vs recomputing.

Each case runs in its own process, so the peak RSS printed is that case's alone (it includes the ~0.3-0.5 GB
of an imported torch + transformers). Reference figures on this machine kind (issue 5, measured with the
official code): SONICS SpecTTTra-alpha-120s 1.74 audios/s at batch 1 (alpha-5s 17/s); official CLAM
extraction 39.4 s per 90 s song (25.3 s MERT + 14.1 s wav2vec2). Targets: >= 1.25x the SpecTTTra figure,
>= 1.5x the extraction figure, cached re-evaluation >= 100x faster than recomputing.

    python perf/inference_speed.py --json out.json   # everything; CLAM at batch 8 alone is 8 x 90 s songs
    python perf/inference_speed.py --no-clam-batch8  # about 5 min on 2 idle cores
    python perf/inference_speed.py --cases spectttra-alpha-5s clam-cached

Each case also counts its floating-point operations per audio (torch's FLOP counter, attention through the
math kernel so it is counted) and the child measures this machine's fp32 matrix-multiply rate (sgemm,
2048 x 2048) in the same process. FLOPs / sgemm rate is the least time any exact fp32 implementation can
take here; the table prints it beside each reference figure and target, so a target that needs more than the
hardware gives is visible as such.

Progress lines (one per timed run) go to stderr, so a run stopped early still shows what it measured.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime

# Quick cases first, so a run stopped during the long CLAM extraction still has them.
CASES = ["spectttra-alpha-5s", "spectttra-alpha-120s", "clam-cached", "clam-extract"]
REFERENCE = {"spectttra-alpha-5s": 17.0, "spectttra-alpha-120s": 1.74}  # audios/s, batch 1
CLAM_REFERENCE_S = 39.4  # s per 90 s song (official extraction, both streams)
SPECTTTRA_TARGET, CLAM_TARGET = 1.25, 1.5  # issue 5: speed-ups over the reference figures


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _time(fn, reps: int, label: str = "") -> list[float]:
    out = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
        if label:  # partial results survive a run that has to be stopped
            print(f"  {label}: {out[-1]:.3f} s", file=sys.stderr, flush=True)
    return out


def sgemm_gflops(n: int = 2048, reps: int = 7) -> float:
    """This machine's fp32 matrix-multiply rate (median of ``reps``), the ceiling of every case here."""
    import torch

    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    times = _time(lambda: a @ b, reps)
    return 2 * n ** 3 / statistics.median(times) / 1e9


def count_flops(module, wave) -> float:
    """Floating-point operations of one forward (multiply-adds count 2); sdpa runs its math kernel here
    because the counter does not see inside the fused CPU kernel."""
    import torch
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with torch.no_grad(), sdpa_kernel(SDPBackend.MATH), counter:
        module(wave)
    return float(counter.get_total_flops())


def run_spectttra(name: str, reps: int) -> dict:
    import torch

    from mom_bench.models import registry

    model = registry.create(name).eval()
    n = model.clip.n_samples(model.sample_rate)
    rows = {}
    with torch.inference_mode():
        for batch in (1, 8):
            wave = torch.randn(batch, n)
            model(wave)  # warm-up
            times = _time(lambda wave=wave: model(wave), reps if batch == 1 else max(1, reps // 2),
                          f"{name} batch {batch}")
            rows[f"batch{batch}"] = {"audios_per_s": batch / statistics.median(times), "seconds": times}
    rows["gflop_per_audio"] = count_flops(model, torch.randn(1, n)) / 1e9
    return rows


def plain_extract(model, wave) -> dict:
    """CLAM's features computed the way a straightforward transformers script does it: each stream resamples its
    own copy, normalises in numpy as the checkpoints' feature extractors do, runs under no_grad (not
    inference_mode) and stacks every hidden state before taking the time mean. Written here as the baseline for
    a ratio measured in one run, on one machine."""
    import numpy as np
    import torch

    from mom_bench.core.audio import resample

    out = {}
    for s in model.streams:
        enc = model.encoders[s]
        x = resample(wave, model.sample_rate, enc.sample_rate).numpy()
        x = (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-7)
        with torch.no_grad():
            hidden = enc.model(torch.from_numpy(x), output_hidden_states=True).hidden_states
        out[s] = torch.stack(hidden, dim=1).mean(dim=2)
    return out


def run_clam_extract(reps: int, batch8: bool = True) -> dict:
    import torch

    from mom_bench.models import registry

    spec = registry.resolve("clam")
    cls = spec.load_class()
    model = cls(cls.architecture_only(spec.full_config())).eval()
    n = model.clip.n_samples(model.sample_rate)  # 90 s at 24 kHz
    rows = {}
    with torch.inference_mode():
        model.extract(torch.randn(1, model.sample_rate * 5))  # warm-up on a short clip
        wave = torch.randn(1, n)
        # Ours and the plain transformers way of computing the same features (the same-machine baseline),
        # interleaved so that drift of a shared machine hits both alike.
        ours, plain = {}, {}
        times, plain_times = [], []
        for _ in range(reps):
            times += _time(lambda: ours.update(model.extract(wave)), 1, "clam extract batch 1 (90 s)")
            with torch.inference_mode(False), torch.no_grad():
                plain_times += _time(lambda: plain.update(plain_extract(model, wave)), 1,
                                     "plain transformers pipeline (90 s)")
        rows["batch1"] = {"s_per_song": statistics.median(times), "audios_per_s": 1 / statistics.median(times),
                          "seconds": times}
        rows["plain_s_per_song"] = statistics.median(plain_times)
        rows["plain_seconds"] = plain_times
        rows["plain_max_abs_diff"] = max(float((ours[s] - plain[s]).abs().max()) for s in model.streams)
        # Each stream alone (the official figure splits 25.3 s MERT + 14.1 s wav2vec2), from the same decode.
        from mom_bench.core.audio import resample

        for s in model.streams:
            enc = model.encoders[s]
            t = time.perf_counter()
            x = resample(wave, model.sample_rate, enc.sample_rate)
            enc(x)
            rows[f"stream_{s}_s"] = time.perf_counter() - t
            print(f"  stream {s} alone: {rows[f'stream_{s}_s']:.3f} s", file=sys.stderr, flush=True)
        if batch8:
            wave8 = torch.randn(8, n)
            times8 = _time(lambda: model.extract(wave8), 1, "clam extract batch 8 (90 s)")
            rows["batch8"] = {"s_per_song": times8[0] / 8, "audios_per_s": 8 / times8[0], "seconds": times8}
    # Counted last, on the meta device (the same graph without 90 s of arithmetic; the weights are gone after).
    rows["gflop_per_audio"] = 0.0
    for s in model.streams:
        enc = model.encoders[s].to("meta")
        flops = count_flops(enc, torch.empty(1, 90 * enc.sample_rate, device="meta")) / 1e9
        rows[f"stream_{s}_gflop"] = flops
        rows["gflop_per_audio"] += flops
    return rows


def run_clam_cached(reps: int) -> dict:
    import torch

    from mom_bench.models.cache import FeatureCache, stack
    from mom_bench.models.clam import ClamHead

    head = ClamHead([13, 13], [768, 768]).eval()  # the paper head: 13 hidden states x 768 per stream
    n_songs = 256
    with tempfile.TemporaryDirectory() as tmp:
        cache = FeatureCache(tmp, shard_size=n_songs)
        folder = cache.root / "bench"
        folder.mkdir(parents=True)
        ids = [f"song{i:05d}" for i in range(n_songs)]
        feats = [{"mert": torch.randn(13, 768), "w2v": torch.randn(13, 768)} for _ in ids]
        cache._write_shard(folder, ids, feats)
        rows = {}
        with torch.inference_mode():
            for batch in (1, 8):
                def rescore(batch=batch):
                    stored = cache.load(folder)
                    for i in range(0, n_songs, batch):
                        x = stack([stored[k] for k in ids[i:i + batch]])
                        head([x["mert"], x["w2v"]])
                times = _time(rescore, reps, f"re-score {n_songs} cached songs, batch {batch}")
                per_song = statistics.median(times) / n_songs
                rows[f"batch{batch}"] = {"audios_per_s": 1 / per_song, "s_per_song": per_song, "seconds": times}
    return rows


def _child(case: str, reps: int, threads: int, batch8: bool = True) -> dict:
    import torch

    torch.set_num_threads(threads)
    peak = sgemm_gflops()
    t0 = time.perf_counter()
    if case.startswith("spectttra"):
        result = run_spectttra(case, reps)
    elif case == "clam-extract":
        result = run_clam_extract(reps, batch8)
    elif case == "clam-cached":
        result = run_clam_cached(reps)
    else:
        raise SystemExit(f"unknown case {case!r}; known: {', '.join(CASES)}")
    return {"case": case, "threads": torch.get_num_threads(), "wall_s": time.perf_counter() - t0,
            "peak_rss_mb": _peak_rss_mb(), "sgemm_gflops": peak, **result}


def _run_case(case: str, args) -> dict:
    cmd = [sys.executable, __file__, "--child", case, "--reps", str(args.reps), "--threads", str(args.threads)]
    if args.no_clam_batch8:
        cmd += ["--no-clam-batch8"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    out = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, env=env)  # progress goes to our stderr
    if out.returncode != 0:
        return {"case": case, "error": f"exit status {out.returncode} (see the messages above)"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def _roofline(results: list[dict]) -> str:
    """Per case: FLOPs per audio, the rate achieved, and the least time at this machine's sgemm rate, beside
    the reference figure and the target (a target needing more than the sgemm rate cannot be met in exact fp32)."""
    lines = [f"{'case':<22} {'GFLOP/audio':>11} {'achieved':>14} {'sgemm':>14} {'floor':>8} {'reference':>10} "
             f"{'target':>8}  verdict", "-" * 120]
    for r in results:
        if "error" in r or "gflop_per_audio" not in r:
            continue
        gflop, peak = r["gflop_per_audio"], r["sgemm_gflops"]
        if r["case"] == "clam-extract":
            took, ref = r["batch1"]["s_per_song"], CLAM_REFERENCE_S
            target = ref / CLAM_TARGET
        elif r["case"] in REFERENCE:
            took, ref = 1 / r["batch1"]["audios_per_s"], 1 / REFERENCE[r["case"]]
            target = ref / SPECTTTRA_TARGET
        else:
            continue
        floor = gflop / peak
        verdict = ("reachable in principle" if target >= floor else
                   f"needs {gflop / target:.0f} GFLOP/s, {gflop / target / peak:.2f}x the sgemm rate: "
                   "not in exact fp32")
        lines.append(f"{r['case']:<22} {gflop:>11.1f} {gflop / took:>7.1f} GFLOP/s {peak:>7.1f} GFLOP/s "
                     f"{floor:>6.2f} s {ref:>8.2f} s {target:>6.2f} s  {verdict}")
    if len(lines) == 2:
        return ""
    return ("time per audio at batch 1 against its floor (FLOPs / the fp32 sgemm rate measured in the case's own "
            "process)\n" + "\n".join(lines))


def _table(results: list[dict]) -> str:
    lines = [f"{'case':<22} {'batch 1 (audios/s)':>19} {'batch 8 (audios/s)':>19} {'peak RSS':>10}  notes",
             "-" * 110]
    for r in results:
        if "error" in r:
            lines.append(f"{r['case']:<22} error: {r['error']}")
            continue
        b1 = r["batch1"]["audios_per_s"]
        b8 = r["batch8"]["audios_per_s"] if "batch8" in r else float("nan")
        notes = ""
        if r["case"] in REFERENCE:
            notes = f"{b1 / REFERENCE[r['case']]:.2f}x the SONICS figure ({REFERENCE[r['case']]}/s)"
        elif r["case"] == "clam-extract":
            s = r["batch1"]["s_per_song"]
            notes = (f"{s:.1f} s/song = {CLAM_REFERENCE_S / s:.2f}x the speed of the {CLAM_REFERENCE_S} s figure; "
                     f"mert {r['stream_mert_s']:.1f} s + w2v {r['stream_w2v_s']:.1f} s; "
                     f"{r['plain_s_per_song'] / s:.2f}x the speed of a plain transformers pipeline here "
                     f"({r['plain_s_per_song']:.1f} s, same features to {r['plain_max_abs_diff']:.0e})")
        elif r["case"] == "clam-cached" and "speedup_vs_recompute" in r:
            notes = (f"{r['speedup_vs_recompute']:.0f}x faster than recomputing features (read shard + head, "
                     "batch 8, vs batch-1 extraction)")
        lines.append(f"{r['case']:<22} {b1:>19.3f} {b8:>19.3f} {r['peak_rss_mb']:>7.0f} MB  {notes}")
    return "\n".join(lines)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cases", nargs="+", default=CASES, choices=CASES)
    p.add_argument("--reps", type=int, default=3, help="timed repetitions per measurement (median reported)")
    p.add_argument("--threads", type=int, default=2, help="torch intra-op threads (the target machine has 2)")
    p.add_argument("--json", default=None, help="also write the results to this JSON file")
    p.add_argument("--no-clam-batch8", action="store_true",
                   help="skip CLAM extraction at batch 8 (8 x 90 s through two base encoders: slow on 2 cores)")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(_child(args.child, args.reps, args.threads, not args.no_clam_batch8)))
        return

    results = []
    for case in args.cases:
        print(f"running {case} ...", file=sys.stderr, flush=True)
        results.append(_run_case(case, args))
    by_case = {r["case"]: r for r in results if "error" not in r}
    if "clam-extract" in by_case and "clam-cached" in by_case:
        # Re-evaluating without the cache means re-running both encoders on every song.
        by_case["clam-cached"]["speedup_vs_recompute"] = (by_case["clam-extract"]["batch1"]["s_per_song"]
                                                          / by_case["clam-cached"]["batch8"]["s_per_song"])
    meta = {"date": datetime.now(UTC).isoformat(timespec="seconds"), "machine": platform.machine(),
            "cpus": os.cpu_count(), "threads": args.threads, "python": platform.python_version()}
    print(f"inference speed, {meta['date']}, {meta['cpus']} CPUs, {args.threads} torch threads, fp32, random weights")
    print(_table(results))
    roofline = _roofline(results)
    if roofline:
        print()
        print(roofline)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"meta": meta, "results": results}, f, indent=2)


if __name__ == "__main__":
    main()
