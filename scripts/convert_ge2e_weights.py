"""Convert the GE2E speaker-encoder weights of Resemblyzer 0.1.4 into mom_bench/data/weights/ge2e.safetensors.

Usage (the wheel is not a dependency; fetch it once with pip, which checks its hash against PyPI)::

    mkdir -p .scratch/w && .venv/bin/pip download --no-deps resemblyzer==0.1.4 -d .scratch/w
    .venv/bin/python scripts/convert_ge2e_weights.py .scratch/w/Resemblyzer-0.1.4-py3-none-any.whl

``resemblyzer/pretrained.pt`` inside the wheel is a legacy (non-zip) torch pickle of a plain dict
``{"step", "model_state", "optimizer_state"}``; it loads with ``torch.load(..., weights_only=True)``, so no
pickled code runs. Only the 14 network tensors of ``model_state`` are kept, under their published names:
the Adam state, the step counter and the two GE2E-loss scalars ``similarity_weight`` / ``similarity_bias``
(used only by the training loss, never at inference) are dropped. The output is deterministic.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import tempfile
import zipfile
from pathlib import Path

import torch
from safetensors.torch import save_file

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "mom_bench" / "data" / "weights" / "ge2e.safetensors"
MEMBER = "resemblyzer/pretrained.pt"
DROPPED = ("similarity_weight", "similarity_bias")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wheel", type=Path, help="Resemblyzer-0.1.4-py3-none-any.whl")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        with zipfile.ZipFile(args.wheel) as zf:
            pt = Path(zf.extract(MEMBER, tmp))
        checkpoint = torch.load(pt, map_location="cpu", weights_only=True)
        pt_sha = sha256(pt)
    state = checkpoint["model_state"]
    tensors = {k: v.detach().to(torch.float32).contiguous() for k, v in state.items() if k not in DROPPED}
    assert len(tensors) == 14, sorted(tensors)
    metadata = {
        "source": f"Resemblyzer 0.1.4 (PyPI, Apache-2.0), {MEMBER}, checkpoint['model_state']",
        "wheel_sha256": sha256(args.wheel),
        "pretrained_pt_sha256": pt_sha,
        "training_step": str(checkpoint["step"]),
        "dropped": ", ".join(DROPPED) + " (GE2E loss scale and offset, training only); optimizer_state; step",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    # One metadata entry holding sorted JSON: safetensors writes several entries in a random (hash map) order,
    # which would make the file's bytes differ from run to run.
    save_file(dict(sorted(tensors.items())), str(args.out),
              metadata={"mom_bench_source": json.dumps(metadata, sort_keys=True)})
    args.out.chmod(0o644)  # safetensors creates the file readable by its owner only
    print(f"{args.out}: {args.out.stat().st_size} bytes, sha256 {sha256(args.out)}")
    for key, value in metadata.items():
        print(f"  {key}: {value}")


if __name__ == "__main__":
    main()
