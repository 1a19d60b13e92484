"""Write tests/golden/ge2e.json: reference outputs of the PUBLISHED Resemblyzer 0.1.4 pipeline (with real
librosa) on fixed synthetic inputs, for tests/test_ge2e.py. It imports nothing of mom_bench.

Run once, in throwaway install folders (neither package is a dependency of mom-bench)::

    .venv/bin/pip install --no-deps --target .scratch/rz resemblyzer==0.1.4
    .venv/bin/pip install --target .scratch/lr librosa
    PYTHONPATH=.scratch/rz:.scratch/lr .venv/bin/python scripts/make_ge2e_golden.py

webrtcvad (needed only by resemblyzer's silence trimming, which is not used here) is replaced by an empty
module so that ``resemblyzer.audio`` imports. What is recorded per signal: the published volume
normalisation, partial slices and mel spectrogram (``resemblyzer.audio.wav_to_mel_spectrogram`` on the
padded waveform, as in ``VoiceEncoder.embed_utterance``), the utterance embedding of ``embed_utterance``
and, per LSTM layer, the output averaged over frames and partials (computed with torch's nn.LSTM holding
the published weights, layers 1..k of the published 3-layer LSTM). Separately, the published network
(``VoiceEncoder.forward``) on a mel input given by a formula, so the network is checked on the SAME input.
"""
from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ge2e_golden_inputs import NETWORK_INPUT, SIGNALS, golden_signal, network_input  # noqa: E402

sys.modules.setdefault("webrtcvad", types.ModuleType("webrtcvad"))
import librosa  # noqa: E402
import resemblyzer  # noqa: E402
from resemblyzer import audio, hparams  # noqa: E402

OUT = Path(__file__).resolve().parents[1] / "tests" / "golden" / "ge2e.json"
COMMAND = ("pip install --no-deps --target .scratch/rz resemblyzer==0.1.4 && "
           "pip install --target .scratch/lr librosa && "
           "PYTHONPATH=.scratch/rz:.scratch/lr .venv/bin/python scripts/make_ge2e_golden.py")

def r(x) -> list:
    """Nested lists of floats rounded to 8 significant digits (float32 carries about 7)."""
    return np.vectorize(lambda v: float(f"{v:.8g}"))(np.asarray(x, dtype=np.float64)).tolist()


def layer_means(enc, mels: torch.Tensor) -> np.ndarray:
    """[P, 3, 256]: every layer's output of the published LSTM, averaged over frames."""
    state = enc.lstm.state_dict()
    out = []
    for k in range(1, hparams.model_num_layers + 1):
        lstm = torch.nn.LSTM(hparams.mel_n_channels, hparams.model_hidden_size, k, batch_first=True)
        lstm.load_state_dict({n: v for n, v in state.items() if int(n.rsplit("_l", 1)[1]) < k}, strict=True)
        with torch.no_grad():
            out.append(lstm(mels)[0].mean(dim=1).numpy())
    with torch.no_grad():  # the published module's own LSTM agrees with the rebuilt 3-layer one
        assert np.allclose(enc.lstm(mels)[0].mean(dim=1).numpy(), out[-1], atol=1e-6)
    return np.stack(out, axis=1)


def main() -> None:
    torch.set_num_threads(1)
    enc = resemblyzer.VoiceEncoder(device="cpu", verbose=False)
    enc.eval()
    outputs = {}
    for name, spec in SIGNALS.items():
        raw = golden_signal(spec)
        wav = audio.normalize_volume(raw, hparams.audio_norm_target_dBFS, increase_only=True)
        wav_slices, mel_slices = enc.compute_partial_slices(len(wav), rate=1.3, min_coverage=0.75)
        padded = np.pad(wav, (0, max(0, wav_slices[-1].stop - len(wav))), "constant")
        mel = audio.wav_to_mel_spectrogram(padded)
        mels = torch.from_numpy(np.array([mel[s] for s in mel_slices]))
        means = layer_means(enc, mels).mean(axis=0)
        frames = sorted({0, 1, 2, len(mel) // 2, len(mel) - 2, len(mel) - 1})
        outputs[name] = {
            "gain": float(np.sqrt(np.mean(wav.astype(np.float64) ** 2))
                          / np.sqrt(np.mean(raw.astype(np.float64) ** 2))),
            "partial_starts": [int(s.start) for s in mel_slices],
            "padded_length": int(len(padded)),
            "mel_n_frames": len(mel),
            "mel_frames": {"index": frames, "values": r(mel[frames])},
            "mel_band_sums": r(mel.astype(np.float64).sum(axis=0)),
            "layer_means": r(means),
            "embedding": r(enc.embed_utterance(wav, rate=1.3, min_coverage=0.75)),
        }
    mels = torch.from_numpy(network_input())
    with torch.no_grad():
        embeds = enc(mels).numpy()
    doc = {
        "command": COMMAND,
        "made_with": {"resemblyzer": "0.1.4", "librosa": librosa.__version__, "numpy": np.__version__,
                      "torch": torch.__version__.split("+")[0]},
        "note": "reference outputs of the published Resemblyzer pipeline; see scripts/make_ge2e_golden.py",
        "signals": SIGNALS,
        "outputs": outputs,
        "network": {**NETWORK_INPUT, "layer_means": r(layer_means(enc, mels)), "partial_embeddings": r(embeds)},
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(doc, separators=(",", ":")) + "\n")
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
