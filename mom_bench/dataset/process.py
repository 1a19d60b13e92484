"""Processing of one row's audio: decode through the one audio path, store, hash, measure.

Runs in worker processes, so everything here takes and returns plain picklable values.

Stored audio is mono FLAC at the protocol's rate on the 16-bit grid: samples are rounded to multiples of
1/32768 before encoding, so the FLAC round trip is exact, the files are about a third smaller than a
32-bit encode of the float samples, and ``content_sha256`` (the sha256 of the int16 PCM) is the hash of
exactly what a reader will decode.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mom_bench.core import audio as A
from mom_bench.core.signal_stats import signal_stats
from mom_bench.core.splits import RowStatus
from mom_bench.dataset import lineage


def _quantise(samples: torch.Tensor) -> tuple[torch.Tensor, bytes]:
    q = torch.round(samples.to(torch.float32) * 32768.0).clamp_(-32768, 32767)
    pcm = q.to(torch.int16).numpy().astype("<i2", copy=False).tobytes()
    return q / 32768.0, pcm


def _clipping_note(samples: torch.Tensor) -> str | None:
    """What storing on the 16-bit grid clips, for the row's reason: a written row whose samples went over full
    scale (within :data:`mom_bench.core.audio.MAX_PEAK`; beyond it the row is unusable) says so."""
    over = samples.abs() > 1.0
    if not bool(over.any()):
        return None
    return (f"written with {int(over.sum())} of {samples.numel()} samples clipped to full scale "
            f"(peak {float(samples.abs().max()):.3g} x full scale)")


def _encode_flac(samples: torch.Tensor, rate: int) -> bytes:
    from torchcodec.encoders import AudioEncoder

    return AudioEncoder(samples.reshape(1, -1), sample_rate=rate).to_tensor("flac").numpy().tobytes()


def _ext_of(src) -> str:
    if isinstance(src, (str, Path)):
        return Path(src).suffix.lower() or ".bin"
    return ".bin"


def process(row_id: str, fetched, *, sample_rate: int, max_seconds: float | None = None,
            keep_original: bool = False, stats: bool = True) -> dict:
    """Decode ``fetched`` (path, bytes or ``(waveform, rate)``) and return the stored columns.

    Returns ``{"status": "written", ...columns}`` (its ``reason`` None, or what storing clipped) or
    ``{"status": "unusable", "reason": ...}``; never raises for bad audio, so one broken file cannot stop a
    build.
    """
    try:
        return _process(row_id, fetched, sample_rate, max_seconds, keep_original, stats)
    except A.AudioError as err:
        return {"status": RowStatus.UNUSABLE, "reason": err.reason}
    except (RuntimeError, ValueError, OSError) as err:  # what torch/torchcodec raise for an odd input
        return {"status": RowStatus.UNUSABLE, "reason": f"{type(err).__name__}: {err}"}


def _process(row_id: str, fetched: Any, sample_rate: int, max_seconds: float | None, keep_original: bool,
             stats: bool) -> dict[str, Any]:
    original: bytes | None = None
    orig_bytes: int | None = None
    if isinstance(fetched, tuple):
        wave, rate = fetched
        wave = torch.as_tensor(np.asarray(wave, dtype=np.float32))
        if wave.ndim == 2:  # (channels, samples): the same plain-mean mixdown as audio.load
            channels = wave.shape[0]
            wave = wave.mean(dim=0)
        elif wave.ndim == 1:
            channels = 1
        else:
            raise A.AudioError(row_id, f"waveform must be 1-D or (channels, samples), got shape {tuple(wave.shape)}")
        A.check_signal(wave, row_id)
        rate = int(rate)
        info = A.AudioInfo(name=row_id, codec="pcm_f32", sample_rate=rate, channels=channels,
                           duration_s=wave.numel() / rate, bit_rate=None)
        store_rate = rate if keep_original else sample_rate
        samples = A.resample(wave, rate, store_rate)
        ext = ".flac"
        at16k = lineage.head(A.resample(wave[: int((lineage.SECONDS + 1) * rate)], rate, lineage.RATE))
    else:
        decoded = A.load(fetched, sample_rate=sample_rate, name=row_id)
        info, samples, store_rate = decoded.info, decoded.samples, sample_rate
        ext = _ext_of(fetched)
        orig_bytes = Path(fetched).stat().st_size if isinstance(fetched, (str, Path)) else len(fetched)
        # the lineage columns come from the input decoded at a fixed rate, whatever rate this build stores; a
        # second past the hashed length is decoded so that the resampler's end never touches the hashed part
        at16k = lineage.head(samples if sample_rate == lineage.RATE else A.load(
            fetched, sample_rate=lineage.RATE, clip=A.first(lineage.SECONDS + 1), name=row_id).samples)
        if keep_original:
            original = Path(fetched).read_bytes() if isinstance(fetched, (str, Path)) else bytes(fetched)
            if max_seconds is not None:
                raise A.AudioError(row_id, "--store original (--keep-original) cannot be combined with --max-seconds")

    if max_seconds is not None:
        samples = samples[: int(round(max_seconds * store_rate))]
    clipped = _clipping_note(samples) if original is None else None  # an original is stored unclipped
    samples = samples.clamp(-1.0, 1.0)
    q, pcm = _quantise(samples if store_rate == sample_rate else A.resample(samples, store_rate, sample_rate))
    if original is not None:
        payload, path = original, f"{row_id}{ext}"
    elif store_rate == sample_rate:
        payload, path = _encode_flac(q, store_rate), f"{row_id}.flac"
    else:  # keep_original for an in-memory waveform: original rate, lossless
        payload, path = _encode_flac(_quantise(samples)[0], store_rate), f"{row_id}.flac"

    out: dict[str, Any] = {
        "status": RowStatus.WRITTEN,
        "reason": clipped,
        "audio_bytes": payload,
        "audio_path": path,
        "duration_s": q.numel() / sample_rate,
        "orig_codec": info.codec,
        "orig_sample_rate": info.sample_rate,
        "orig_channels": info.channels,
        "orig_bit_rate": info.bit_rate,
        "orig_duration_s": info.duration_s,
        "content_sha256": hashlib.sha256(pcm).hexdigest(),
        "orig_bytes": orig_bytes,
        "pcm16k_sha256": lineage.pcm16k_sha256(at16k.numpy()),
        "pcm16k_print": lineage.fingerprint(at16k.clamp(-1.0, 1.0).numpy()),
        "stats": None,
    }
    if stats:
        # The shortcut check's statistics, on the stored audio at the protocol's rate (stored as FLAC, the
        # default: exactly the samples a reader decodes).
        out["stats"] = signal_stats(q.numpy(), sample_rate)
    return out


def worker_init() -> None:
    # One thread per worker process: the parallelism comes from the processes, and oversubscribed
    # OpenMP pools on a small machine are slower than none.
    torch.set_num_threads(1)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
