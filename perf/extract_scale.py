"""Feature extraction at scale, measured in one run on this machine: what processes, decode workers and
reduced precision buy, and what bf16 changes in the numbers.

Three parts, each printing its table (and all of it with ``--json``):

A. **Scaling** (songs/s) of a frozen-encoder extraction over a built benchmark (default: ``clam-mini`` on
   the test splits of mom-mini, i.e. ``mom-bench extract``'s work): 1 and 2 processes (2 = ``torchrun`` with
   the gloo backend, one intra-op thread each; 1 = one process with every core), 0 and 2 decode workers,
   fp32 and bf16. Plus, for one process in fp32, the time of decoding alone and of encoding pre-decoded
   audio alone, to show whether decoding adds to the encoder time.
B. **Paper-size encoders in bf16 vs fp32**: CLAM's two encoders at their real size (MERT-v1-95M-shaped HuBERT
   and wav2vec2-base, random weights: the speed is that of the real models, the deviations only indicative)
   on one 90 s song at 24 kHz, and SpecTTTra-alpha/gamma-120s on 120 s at 16 kHz: median time of each,
   interleaved, the ratio, and the feature/logit deviation (max abs, relative L2, cosine).
C. **Decisions**: the trained mom-mini reference runs found under ``$MOM_BENCH_HOME/runs/mom-mini`` (train
   them with ``scripts/reproduce_mom_mini_leaderboard.sh``) scored on test_id + test_ood in fp32 and bf16:
   how many decisions at 0.5 change, and the largest change of P(fake).

    python perf/extract_scale.py                       # everything, about 10-15 min on 2 idle cores
    python perf/extract_scale.py --parts A --json .scratch/scale.json
    python perf/extract_scale.py --parts B --reps 3

Measure on an otherwise idle machine: only ratios measured in one run mean anything, and every figure
names the CPU it ran on (``lscpu``'s model name and flags relevant to bf16 are printed).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCRATCH = REPO / ".scratch"


def cpu_info() -> dict:
    model, flags = platform.processor(), ""
    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        for line in text.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
            if line.startswith("Flags:"):
                flags = line
    except OSError:
        pass
    bf16 = [f for f in ("amx_bf16", "avx512_bf16") if f in flags.split()]
    return {"model": model, "cores": os.cpu_count(), "native_bf16": bf16}


# --------------------------------------------------------------------------------------------------
# A. scaling (each configuration in fresh processes)


def child(args) -> None:
    """One process (or one rank under torchrun) of part A: time extracting the first --songs rows."""
    import torch

    from mom_bench.core import distributed
    from mom_bench.dataset import read
    from mom_bench.loop.inference import decoded_batches, grid
    from mom_bench.models import registry
    from mom_bench.models.cache import FeatureCache

    part = distributed.part()
    distributed.init("cpu")
    model = registry.create(args.model, "mom-mini").eval()
    data = Path(args.data)
    rows = [(split, n) for split in args.splits for n in [read.num_rows(data, split)]]
    cache = FeatureCache(Path(args.cache) / f"rank{part.index}", shard_size=10**9)
    n_clip = model.clip.n_samples(model.sample_rate) or model.sample_rate * 10
    with torch.inference_mode():  # warm-up (kernel selection, oneDNN bf16 code generation)
        from mom_bench.core import precision as P

        with P.autocast(args.precision, "cpu"):
            model.extract(torch.randn(args.batch_size, min(n_clip, model.sample_rate * 10)))
    distributed.barrier()
    t0 = time.perf_counter()
    songs = 0
    for split, n in rows:
        start, stop = part.batch_range(n, args.batch_size)
        folder = cache.root / split
        folder.mkdir(parents=True, exist_ok=True)
        cache.fill(model, folder, decoded_batches(data, split, grid(start, stop, args.batch_size), model,
                                                  num_workers=args.num_workers),
                   total=stop - start, precision=args.precision, progress=False)
        songs += stop - start
    seconds = time.perf_counter() - t0
    distributed.barrier()
    print("RESULT " + json.dumps({"rank": part.index, "songs": songs, "seconds": seconds}), flush=True)
    distributed.shutdown()


def phases(args) -> dict:
    """Decode alone and encode alone (pre-decoded), one process, fp32, 0 workers."""
    import torch

    from mom_bench.dataset import read
    from mom_bench.loop.inference import decoded_batches, grid
    from mom_bench.models import registry

    model = registry.create(args.model, "mom-mini").eval()
    data = Path(args.data)
    t0 = time.perf_counter()
    decoded = []
    for split in args.splits:
        n = read.num_rows(data, split)
        decoded += [w for _, waves, _ in decoded_batches(data, split, grid(0, n, args.batch_size), model)
                    for w in waves]
    decode_s = time.perf_counter() - t0
    with torch.inference_mode():
        model.extract(torch.stack(decoded[:args.batch_size]))
        t0 = time.perf_counter()
        for i in range(0, len(decoded), args.batch_size):
            model.extract(torch.stack(decoded[i:i + args.batch_size]))
        encode_s = time.perf_counter() - t0
    return {"songs": len(decoded), "decode_s": decode_s, "encode_s": encode_s}


def run_config(args, processes: int, workers: int, precision: str) -> dict:
    with tempfile.TemporaryDirectory(dir=SCRATCH) as cache:
        cmd = [str(Path(__file__)), "--child", "--model", args.model, "--data", args.data, "--splits",
               *args.splits, "--batch-size", str(args.batch_size), "--num-workers", str(workers),
               "--precision", precision, "--cache", cache]
        env = {**os.environ, "HF_HUB_OFFLINE": "1"}
        if processes > 1:
            cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node",
                   str(processes)] + cmd
        else:
            cmd = [sys.executable] + cmd
        t0 = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True, env=env)
        wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr[-3000:]}")
    results = [json.loads(line[7:]) for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    songs = sum(r["songs"] for r in results)
    seconds = max(r["seconds"] for r in results)
    row = {"processes": processes, "decode_workers": workers, "precision": precision, "songs": songs,
           "seconds": seconds, "songs_per_s": songs / seconds, "wall_s_with_startup": wall}
    print(f"  {processes} proc, {workers} workers, {precision}: {row['songs_per_s']:.2f} songs/s "
          f"({songs} songs in {seconds:.1f} s)", file=sys.stderr, flush=True)
    return row


def part_a(args) -> dict:
    rows = []
    for precision in ("fp32", "bf16"):
        for processes in (1, 2):
            for workers in (0, 2):
                rows.append(run_config(args, processes, workers, precision))
    ph = phases(args)
    print(f"  one process fp32: decode alone {ph['decode_s']:.1f} s, encode alone {ph['encode_s']:.1f} s "
          f"for {ph['songs']} songs", file=sys.stderr, flush=True)
    return {"model": args.model, "data": args.data, "splits": args.splits, "batch_size": args.batch_size,
            "rows": rows, "phases": ph}


# --------------------------------------------------------------------------------------------------
# B. paper-size encoders


def _deviation(ref, got) -> dict:
    import torch

    ref, got = ref.float().flatten(), got.float().flatten()
    return {"max_abs": float((got - ref).abs().max()), "rel_l2": float((got - ref).norm() / ref.norm()),
            "cosine": float(torch.nn.functional.cosine_similarity(got, ref, dim=0))}


def part_b(args) -> dict:
    import torch

    from mom_bench.core import precision as P
    from mom_bench.models import registry

    torch.manual_seed(0)
    spec = registry.resolve("clam")
    cls = spec.load_class()
    clam = cls(cls.architecture_only(spec.full_config())).eval()
    cases = {"clam-encoders (90 s)": (clam, clam.extract, 90 * 24000)}
    for name in ("spectttra-alpha-120s", "spectttra-gamma-120s"):
        torch.manual_seed(0)
        m = registry.create(name).eval()
        cases[name] = (m, m, m.clip.n_samples(m.sample_rate))
    out = {}
    for name, (model, _, n) in cases.items():
        torch.manual_seed(1)
        wave = torch.randn(1, n) * 0.1

        def go(m, precision, wave=wave):
            with torch.inference_mode(), P.autocast(precision, "cpu"):
                return m.extract(wave) if hasattr(m, "extract") else m(wave)

        ref, got = go(model, "fp32"), go(model, "bf16")  # warm-up, and the values compared
        times = {"fp32": [], "bf16": []}
        for _ in range(args.reps):  # interleaved, so drift of the machine hits both alike
            for precision in ("fp32", "bf16"):
                t0 = time.perf_counter()
                go(model, precision)
                times[precision].append(time.perf_counter() - t0)
        fp32, bf16 = statistics.median(times["fp32"]), statistics.median(times["bf16"])
        if isinstance(ref, dict):
            dev = {s: _deviation(ref[s], got[s]) for s in ref}
        else:
            dev = {"logit": _deviation(ref, got)}
        out[name] = {"fp32_s": fp32, "bf16_s": bf16, "speedup": fp32 / bf16, "times": times, "deviation": dev}
        print(f"  {name}: fp32 {fp32:.2f} s, bf16 {bf16:.2f} s, x{fp32 / bf16:.2f}; {json.dumps(dev)}",
              file=sys.stderr, flush=True)
    return out


# --------------------------------------------------------------------------------------------------
# C. decisions of the trained mom-mini reference runs


def part_c(args) -> dict:
    import torch

    from mom_bench.core import settings
    from mom_bench.loop.inference import split_logits
    from mom_bench.models import registry

    out = {}
    runs = settings.runs_dir() / "mom-mini"
    for name in args.runs:
        best = runs / name / "best"
        if not best.is_dir():
            print(f"  {name}: no trained run at {best}; skipped", file=sys.stderr)
            continue
        model = registry.load(best).eval()
        probs = {}
        for precision in ("fp32", "bf16"):
            probs[precision] = torch.cat([split_logits(model, Path(args.data), s, progress=False,
                                                       precision=precision).sigmoid()
                                          for s in ("test_id", "test_ood")])
        changed = int(((probs["fp32"] >= 0.5) != (probs["bf16"] >= 0.5)).sum())
        delta = float((probs["fp32"] - probs["bf16"]).abs().max())
        out[name] = {"songs": len(probs["fp32"]), "decisions_changed": changed, "max_abs_delta_p": delta}
        print(f"  {name}: {changed} of {len(probs['fp32'])} test decisions change; max |dP| {delta:.2e}",
              file=sys.stderr, flush=True)
    return out


def main() -> None:
    from mom_bench.core import settings

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parts", default="ABC")
    parser.add_argument("--model", default="clam-mini", help="part A: a frozen-encoder registry model")
    parser.add_argument("--data", default=str(settings.default_dataset_dir("mom-mini")))
    parser.add_argument("--splits", nargs="+", default=["test_id", "test_ood"])
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--reps", type=int, default=2, help="part B: timed repetitions of each case")
    parser.add_argument("--runs", nargs="+", default=["clam-mini", "spectttra-mini"], help="part C")
    parser.add_argument("--json", default=None)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--num-workers", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--precision", default="fp32", help=argparse.SUPPRESS)
    parser.add_argument("--cache", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)
    SCRATCH.mkdir(exist_ok=True)
    report = {"date": datetime.now(UTC).isoformat(timespec="seconds"), "cpu": cpu_info(),
              "python": platform.python_version()}
    import torch

    report["torch"] = torch.__version__
    print(f"CPU: {report['cpu']}", file=sys.stderr)
    if "A" in args.parts:
        print("A. scaling", file=sys.stderr)
        report["scaling"] = part_a(args)
    if "B" in args.parts:
        print("B. paper-size encoders, bf16 vs fp32", file=sys.stderr)
        report["precision"] = part_b(args)
    if "C" in args.parts:
        print("C. decisions of the mom-mini reference runs, bf16 vs fp32", file=sys.stderr)
        report["decisions"] = part_c(args)
    text = json.dumps(report, indent=2)
    if args.json:
        Path(args.json).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
