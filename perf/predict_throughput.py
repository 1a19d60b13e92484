"""`mom-bench predict` throughput: hours of audio scored per hour, against the rate of its slowest stage.

For each model (random weights of the real architectures: ``clam`` with its paper-size encoders, MERT-v1-95M-shaped
HuBERT + wav2vec2-base, built without checkpoints; ``spectttra-alpha-120s``), each precision (fp32, bf16) and
each number of decode workers (0, 2), the same generated mp3 files (44.1 kHz stereo) are scored by
:func:`mom_bench.loop.prediction.iter_scores` with ``all-windows`` (predict's catalogue mode), and in the same
run each stage alone: decoding (the decode pipeline without the model, with the same workers) and the model's
forward pass (on windows decoded beforehand). A pipeline cannot beat its slowest stage, so

    bound = audio hours / max(decode alone, forward alone);  e2e % of bound = bound time / end-to-end time

(the target is >= 70 %). Then memory: the resident set after N and after 2N files of one run (flat: nothing
grows per file), and one hour-long file scored in a fresh process (peak RSS against what its whole decode
would hold). On a CUDA device (``--device cuda``, the default where there is one) the same table gives songs/s,
hours/hour and peak GPU memory; every run prints how far bf16 moves P(fake) from fp32 (max abs difference).

    python perf/predict_throughput.py --quick          # a few minutes on 2 CPU cores: 1 clam song per case
    python perf/predict_throughput.py --json .scratch/predict.json
    python perf/predict_throughput.py --device cuda     # the one short GPU check

Measure on an otherwise idle machine; every figure names the CPU it ran on (``lscpu`` model name).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from main_job import _cpu_model  # perf/ is on the path when a script here runs

MODELS = ["spectttra-alpha-120s", "clam"]  # the small one first: the peak RSS of each row is the run's so far


def _status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def rss_mb() -> float:
    """The resident set now (MiB)."""
    return _status_mb("VmRSS")


def peak_rss_mb() -> float:
    """The peak resident set of this process (MiB): /proc's VmHWM, which starts afresh at exec (ru_maxrss keeps
    the peak of the process that forked it)."""
    peak = _status_mb("VmHWM")
    return peak if peak == peak else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_song(path: Path, seconds: float, seed: int, rate: int = 44100) -> Path:
    """A stereo mp3 of noise (what a decoder spends its time on is the frames, not the music): by ffmpeg's own
    generator when ffmpeg is installed (much faster), else a tone and noise encoded by torchcodec."""
    if shutil.which("ffmpeg"):
        subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                        f"anoisesrc=d={seconds}:c=pink:r={rate}:a=0.2:seed={seed}", "-ac", "2", "-b:a", "192k",
                        str(path)], check=True)
        return path
    import torch
    from torchcodec.encoders import AudioEncoder

    gen = torch.Generator().manual_seed(seed)
    t = torch.arange(int(seconds * rate)) / rate
    left = 0.2 * torch.sin(2 * torch.pi * (110 + 20 * seed) * t) + 0.05 * torch.randn(t.numel(), generator=gen)
    AudioEncoder(torch.stack([left, left.roll(100)]), sample_rate=rate).to_file(str(path), bit_rate=192000)
    return path


def build_model(name: str, device: str):
    from mom_bench.models import registry

    if name == "clam":  # the paper's encoders at their real size, random weights: no checkpoint is read
        spec = registry.resolve("clam")
        cls = spec.load_class()
        model = cls(cls.architecture_only(spec.full_config()))
    else:
        model = registry.create(name)
    return model.eval().to(device)


def sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def decode_alone(model, files, workers: int) -> float:
    """Seconds to decode and window every file with the pipeline predict uses, without the model."""
    import torch

    from mom_bench.loop import prediction as P

    n = model.clip.n_samples(model.sample_rate)
    source = P._FilePieces([P.Input(f) for f in files], model.sample_rate, n, None, 8, P.MAX_WINDOWED_SECONDS)
    stream = iter(source) if workers == 0 else torch.utils.data.DataLoader(source, batch_size=None,
                                                                           num_workers=workers)
    t0 = time.perf_counter()
    for _ in stream:
        pass
    return time.perf_counter() - t0


def forward_alone(model, pieces, precision: str, device: str) -> float:
    """Seconds of the model's forward passes over windows decoded beforehand (the same batches as predict)."""
    from mom_bench.loop.inference import wave_logits

    sync(device)
    t0 = time.perf_counter()
    for waves in pieces:
        wave_logits(model, waves, 8, None, precision)
    sync(device)
    return time.perf_counter() - t0


def case(model, files, precision: str, workers: int, device: str) -> tuple[float, list[dict]]:
    from mom_bench.loop import prediction as P

    sync(device)
    t0 = time.perf_counter()
    rows = list(P.iter_scores(model, files, progress=False, num_workers=workers, precision=precision))
    sync(device)
    return time.perf_counter() - t0, rows


def run_model(name: str, files: list[Path], args) -> list[dict]:
    import torch

    from mom_bench.loop import prediction as P
    from mom_bench.loop.inference import wave_logits

    model = build_model(name, args.device)
    n = model.clip.n_samples(model.sample_rate)
    source = P._FilePieces([P.Input(f) for f in files], model.sample_rate, n, None, 8, P.MAX_WINDOWED_SECONDS)
    pieces = [waves for _, waves, _ in source if waves is not None]
    windows = sum(len(w) for w in pieces)
    out, scores = [], {}
    # A shared machine's load drifts: each time is the best of ``reps`` (1 for clam, whose one pass is minutes).
    reps = 1 if name == "clam" else args.reps
    decode_s = {w: min(decode_alone(model, files, w) for _ in range(reps)) for w in args.workers}
    for precision in args.precisions:
        # warm-up (kernel choice, oneDNN code generation for these shapes): CLAM on a short input, SpecTTTra on
        # the very batches it is timed on (its pass is short enough for first-call costs to show)
        for warm in [torch.randn(1, model.sample_rate * 5)] if name == "clam" else pieces:
            wave_logits(model, warm, 8, None, precision)
        if args.device.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats()
        forward_s = min(forward_alone(model, pieces, precision, args.device) for _ in range(reps))
        for workers in args.workers:
            wall, rows = min((case(model, files, precision, workers, args.device) for _ in range(reps)),
                             key=lambda timed: timed[0])
            hours = sum(float(r["duration_s"]) for r in rows if r["status"] == "ok") / 3600
            bound_s = max(decode_s[workers], forward_s)
            scores[precision] = [r["p_fake"] for r in rows]
            row = {"model": name, "precision": precision, "workers": workers, "files": len(files),
                   "windows": windows, "audio_h": hours, "e2e_s": wall, "decode_alone_s": decode_s[workers],
                   "forward_alone_s": forward_s, "slowest": "decode" if decode_s[workers] > forward_s else "forward",
                   "hours_per_hour": hours * 3600 / wall, "bound_hours_per_hour": hours * 3600 / bound_s,
                   "pct_of_bound": 100 * bound_s / wall, "songs_per_s": len(files) / wall,
                   "peak_rss_mb": peak_rss_mb()}
            if args.device.startswith("cuda"):
                row["peak_gpu_mb"] = torch.cuda.max_memory_allocated() / 2**20
            print(f"  {name} {precision} workers={workers}: {row['hours_per_hour']:.1f} h/h, "
                  f"{row['pct_of_bound']:.0f} % of its {row['slowest']} bound", file=sys.stderr, flush=True)
            out.append(row)
    if "fp32" in scores and "bf16" in scores:
        diff = max(abs(a - b) for a, b in zip(scores["fp32"], scores["bf16"], strict=True))
        for row in out:
            row["bf16_vs_fp32_max_abs_p"] = diff
    return out


def memory_flat(files: list[Path], args) -> dict:
    """Resident set after the first half and after all of one run's files (spectttra, 2 workers)."""
    from mom_bench.loop import prediction as P

    model = build_model("spectttra-alpha-120s", args.device)
    half = len(files) // 2
    seen = {}
    for i, _ in enumerate(P.iter_scores(model, files, progress=False, num_workers=2), 1):
        if i in (half, len(files)):
            seen[i] = rss_mb()
    return {"files_n": half, "rss_after_n_mb": seen[half], "files_2n": len(files), "rss_after_2n_mb": seen[len(files)]}


def hour_child(short: str, long: str, device: str) -> None:
    """In a fresh process: score a one-window song, then the long file, one window per forward pass (so the
    model's working set is the same for both); print the peak RSS after each (JSON). Equal peaks: the long
    file cost no memory for its length."""
    from mom_bench.loop import prediction as P

    model = build_model("spectttra-alpha-120s", device)
    out = {"rss_model_loaded_mb": rss_mb()}
    for label, path in (("short", short), ("long", long)):
        t0 = time.perf_counter()
        (row,) = P.iter_scores(model, [path], progress=False, batch_size=1)
        out[label] = {"peak_rss_mb": peak_rss_mb(), "seconds": time.perf_counter() - t0,
                      "duration_s": row["duration_s"], "windows": row["windows"], "status": row["status"],
                      "error": row["error"]}
    print(json.dumps(out))


def main(argv=None) -> None:
    import torch

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="1 clam song and 2 SpecTTTra songs per case")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--models", nargs="*", default=MODELS, choices=MODELS)
    p.add_argument("--precisions", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16"])
    p.add_argument("--workers", nargs="+", type=int, default=[0, 2])
    p.add_argument("--hour-seconds", type=float, default=3600.0, help="length of the long file of the memory check")
    p.add_argument("--reps", type=int, default=3, help="best of this many runs of each SpecTTTra measurement")
    p.add_argument("--json", type=Path, default=None)
    p.add_argument("--child-hour", nargs=2, default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child_hour:
        hour_child(*args.child_hour, args.device)
        return
    gpu = torch.cuda.get_device_name(0) if args.device.startswith("cuda") else None
    meta = {"date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "cpu": _cpu_model(), "cores": os.cpu_count(),
            "torch_threads": torch.get_num_threads(), "device": args.device, "gpu": gpu, "torch": torch.__version__,
            "load_average_1min": os.getloadavg()[0]}
    print(f"predict throughput, {meta['date']}, {meta['cpu']} ({meta['cores']} CPUs, load average "
          f"{meta['load_average_1min']:.1f} at the start), device {args.device}" + (f" ({gpu})" if gpu else ""),
          flush=True)
    counts = {"clam": (1, 90.0) if args.quick else (4, 180.0),  # 90 s: one clam window
              "spectttra-alpha-120s": (2, 240.0) if args.quick else (16, 240.0)}
    results: dict = {"meta": meta, "cases": []}
    with tempfile.TemporaryDirectory(prefix="predict-throughput-") as tmp:
        folder = Path(tmp)
        for name in args.models:
            k, seconds = counts[name]
            files = [make_song(folder / f"{name}-{i:03d}.mp3", seconds, i) for i in range(k)]
            results["cases"] += run_model(name, files, args)
        short = [make_song(folder / f"short-{i:03d}.mp3", 30.0, 50 + i) for i in range(8 if args.quick else 32)]
        results["memory"] = memory_flat(short, args)
        hour = make_song(folder / "hour.mp3", args.hour_seconds, 99)
        child = subprocess.run([sys.executable, __file__, "--child-hour", str(short[0]), str(hour), "--device",
                                args.device], capture_output=True, text=True, check=True)
        results["hour"] = {**json.loads(child.stdout.strip().splitlines()[-1]), "seconds_of_audio": args.hour_seconds}
    print("| model | precision | decode workers | files (windows) | hours/hour | songs/s | decode alone | forward "
          "alone | bound (h/h) | e2e % of bound | peak RSS so far |" + (" peak GPU |" if gpu else ""))
    print("|---|---|---|---|---|---|---|---|---|---|---|" + ("---|" if gpu else ""))
    for r in results["cases"]:
        print(f"| {r['model']} | {r['precision']} | {r['workers']} | {r['files']} ({r['windows']}) | "
              f"{r['hours_per_hour']:.1f} | {r['songs_per_s']:.3f} | {r['decode_alone_s']:.1f} s | "
              f"{r['forward_alone_s']:.1f} s | {r['bound_hours_per_hour']:.1f} | {r['pct_of_bound']:.0f} % | "
              f"{r['peak_rss_mb']:.0f} MiB |" + (f" {r['peak_gpu_mb']:.0f} MiB |" if gpu else ""))
    for name in args.models:
        diffs = {r.get("bf16_vs_fp32_max_abs_p") for r in results["cases"] if r["model"] == name}
        if diffs != {None}:
            print(f"{name}: bf16 moves P(fake) by at most {max(d for d in diffs if d is not None):.2e} from fp32")
    m, h = results["memory"], results["hour"]
    print(f"memory (spectttra, 2 workers): RSS {m['rss_after_n_mb']:.0f} MiB after {m['files_n']} files, "
          f"{m['rss_after_2n_mb']:.0f} MiB after {m['files_2n']}")
    whole_mb = h["seconds_of_audio"] * 44100 * 2 * 4 / 2**20
    s, long = h["short"], h["long"]
    print(f"one {h['seconds_of_audio'] / 3600:g} h file (spectttra, all-windows, batch 1, {long['windows']} windows, "
          f"{long['status']}, {long['seconds']:.0f} s): peak RSS {long['peak_rss_mb']:.0f} MiB, against "
          f"{s['peak_rss_mb']:.0f} MiB after a 30 s song in the same process ({h['rss_model_loaded_mb']:.0f} MiB "
          f"with the model loaded); its whole decode at 44.1 kHz stereo float32 would be {whole_mb:.0f} MiB")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
