"""Is mom-mini the same audio on this machine, whatever instructions its CPU offers?

Generates every mom-mini row (the real source path, the builder's own 16-bit quantisation and hash) in a
child process per *capability setting*, and prints each setting's audio fingerprint next to the one written in
the protocol (``audio_fingerprint`` in mom-mini.yaml). The settings force the code paths a CPU of another kind
would take: torch's ATen kernels (``ATEN_CPU_CAPABILITY``), oneDNN (``ONEDNN_MAX_CPU_ISA``), MKL
(``MKL_ENABLE_INSTRUCTIONS``), numpy's dispatched loops (``NPY_DISABLE_CPU_FEATURES``) and OpenBLAS
(``OPENBLAS_CORETYPE``). A machine that lacks AVX-512 runs the "avx2" setting's paths natively.

    python scripts/check_mom_mini_fingerprint.py                 # every setting, the whole benchmark
    python scripts/check_mom_mini_fingerprint.py --only native   # just this machine as it is
    python scripts/check_mom_mini_fingerprint.py --rows 200      # the first 200 rows (quicker, not comparable)

Exit status 1 when a setting differs from another or (whole benchmark only) from the protocol.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time

SETTINGS: dict[str, dict[str, str]] = {
    "native": {},
    "avx2": {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2",
             "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR", "OPENBLAS_CORETYPE": "Haswell"},
    "baseline": {"ATEN_CPU_CAPABILITY": "default", "ONEDNN_MAX_CPU_ISA": "SSE41", "MKL_ENABLE_INSTRUCTIONS": "SSE4_2",
                 "NPY_DISABLE_CPU_FEATURES": "X86_V3 X86_V4 AVX512_ICL AVX512_SPR", "OPENBLAS_CORETYPE": "Nehalem"},
}


def fingerprint(limit: int | None = None) -> dict:
    """The audio fingerprint of mom-mini's rows as the builder would store them (this process's settings)."""
    import torch

    from mom_bench.dataset import protocols
    from mom_bench.dataset.build_report import audio_fingerprint
    from mom_bench.dataset.process import process
    from mom_bench.dataset.sources import open_source

    protocol = protocols.load("mom-mini")
    rows = list(open_source(protocol).rows())[:limit]
    written = []
    for row in rows:
        out = process(row.id, row.fetch(), sample_rate=protocol.sample_rate, stats=False)
        if out["status"] != "written":
            raise SystemExit(f"{row.id}: {out['reason']}")
        written.append({"id": row.id, "content_sha256": out["content_sha256"]})
    return {"fingerprint": audio_fingerprint(written), "rows": len(written),
            "expected": protocol.raw.get("audio_fingerprint"), "capability": torch.backends.cpu.get_cpu_capability()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=sorted(SETTINGS), action="append", help="run only this setting (repeatable)")
    parser.add_argument("--rows", type=int, default=None, help="only the first N rows")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    opts = parser.parse_args()
    if opts.child:
        print(json.dumps(fingerprint(opts.rows)))
        return 0

    model = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
                 platform.processor())
    print(f"CPU: {model}; {platform.platform()}")
    seen: dict[str, str] = {}
    expected = None
    for name in opts.only or list(SETTINGS):
        env = {**os.environ, **SETTINGS[name], "HF_HUB_OFFLINE": "1"}
        args = [sys.executable, __file__, "--child"] + (["--rows", str(opts.rows)] if opts.rows else [])
        t0 = time.perf_counter()
        done = subprocess.run(args, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            sys.stderr.write(done.stderr)
            return 2
        got = json.loads(done.stdout.strip().splitlines()[-1])
        expected = got["expected"]
        seen[name] = got["fingerprint"]
        print(f"{name:<9} ATen {got['capability']:<8} {got['rows']} rows  {got['fingerprint']}  "
              f"{time.perf_counter() - t0:.0f} s", flush=True)
    same = len(set(seen.values())) == 1
    print(f"protocol  {expected}")
    matches = opts.rows is None and expected in seen.values()
    print("all settings agree" if same else "SETTINGS DIFFER",
          "" if opts.rows else ("and match the protocol" if matches and same else "; NOT the protocol's fingerprint"))
    return 0 if same and (opts.rows is not None or matches) else 1


if __name__ == "__main__":
    sys.exit(main())
