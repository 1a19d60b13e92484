"""The fixed synthetic inputs of the GE2E golden file, shared by scripts/make_ge2e_golden.py (which needs
resemblyzer and librosa) and tests/test_ge2e.py (which must not): numpy only."""
from __future__ import annotations

import numpy as np

SIGNALS = {
    "long": {"seconds": 3.0, "sines": [[110.0, 0.004, 0.0], [440.0, 0.006, 0.5], [1234.5, 0.003, 1.0],
                                        [3100.0, 0.002, 2.0]],
             "chirp": [200.0, 6000.0, 0.003], "am": [4.0, 0.8], "noise": [0, 0.001]},
    "short": {"seconds": 0.3, "sines": [[220.0, 0.2, 0.0], [2500.0, 0.1, 1.0]],
              "chirp": [300.0, 3000.0, 0.05], "am": [5.0, 0.5], "noise": [1, 0.01]},
}
NETWORK_INPUT = {"shape": [2, 160, 40], "formula": "0.05 * (1.2 + sin(0.07 * (t + 1) * (m + 1) / 8 + 1.3 * p)) ** 3"}


def golden_signal(spec: dict, sample_rate: int = 16000) -> np.ndarray:
    """The synthetic test waveform of ``spec`` (float32)."""
    n = round(spec["seconds"] * sample_rate)
    t = np.arange(n, dtype=np.float64) / sample_rate
    x = np.zeros(n)
    for f, a, p in spec["sines"]:
        x += a * np.sin(2 * np.pi * f * t + p)
    f0, f1, a = spec["chirp"]
    x += a * np.sin(2 * np.pi * (f0 * t + (f1 - f0) * t ** 2 / (2 * spec["seconds"])))
    hz, depth = spec["am"]
    x *= 1 + depth * np.sin(2 * np.pi * hz * t)
    seed, std = spec["noise"]
    x += std * np.random.default_rng(seed).standard_normal(n)
    return x.astype(np.float32)


def network_input() -> np.ndarray:
    p, t, m = np.meshgrid(*(np.arange(s, dtype=np.float64) for s in NETWORK_INPUT["shape"]), indexing="ij")
    return (0.05 * (1.2 + np.sin(0.07 * (t + 1) * (m + 1) / 8 + 1.3 * p)) ** 3).astype(np.float32)
