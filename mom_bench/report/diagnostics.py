"""What `mom-bench info` and `mom-bench inspect` report."""
from __future__ import annotations

import os
import platform
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mom_bench.core import audio, provenance, settings
from mom_bench.core.inputs import Input
from mom_bench.core.splits import RowStatus

# One row of `inspect` per file, in this column order (table, CSV and JSON alike).
COLUMNS = ["file", "status", "codec", "sample_rate", "channels", "duration_s", "bit_rate", "error"]

_PACKAGES = ["torch", "torchcodec", "datasets", "transformers", "huggingface-hub", "safetensors", "numpy",
             "pandas", "pyarrow", "scikit-learn", "matplotlib", "click", "tqdm"]


def _version(pkg: str) -> str:
    return provenance.package_version(pkg) or "not installed"


def _decoder_health() -> str:
    """Encode and decode a short tone in memory: proves FFmpeg's libraries and torchcodec load."""
    try:
        import torch
        from torchcodec.encoders import AudioEncoder

        tone = torch.sin(torch.arange(1600) * 0.1)[None] * 0.1
        blob = AudioEncoder(tone, sample_rate=16000).to_tensor(format="wav").numpy().tobytes()
        decoded = audio.load(blob, 16000, name="<self-test>")
        return f"ok (decoded {decoded.samples.numel()} samples)"
    except Exception as err:  # report, never crash `info`
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        hint = " - install FFmpeg: apt-get install -y --no-install-recommends ffmpeg" if "libtorchcodec" in str(
            err) or "FFmpeg" in str(err) else ""
        return f"FAILED: {first[:200]}{hint}"


def _device() -> str:
    try:
        import torch
    except Exception as err:  # pragma: no cover - torch is a hard dependency
        return f"torch unavailable ({err})"
    if torch.cuda.is_available():
        return f"cuda ({torch.cuda.get_device_name(0)})"
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return "mps"
    return f"cpu ({torch.get_num_threads()} threads)"


def collect_info() -> dict[str, dict[str, str]]:
    return {
        "mom-bench": {"version": provenance.mom_bench_version(), "python": platform.python_version(),
                      "platform": platform.platform()},
        "packages": {p: _version(p) for p in _PACKAGES},
        "runtime": {"torch device": _device(), "audio decoder (torchcodec + FFmpeg)": _decoder_health(),
                    "offline mode (HF_HUB_OFFLINE)": "on" if settings.offline() else "off"},
        "folders": {"home ($MOM_BENCH_HOME)": str(settings.home()), "datasets": str(settings.datasets_dir()),
                    "runs": str(settings.runs_dir()), "cache": str(settings.cache_dir()),
                    "huggingface cache": os.environ.get("HF_HOME", str(Path.home() / ".cache" / "huggingface"))},
    }


#: one row of the inspect table: a value ("" where unknown) under each of :data:`COLUMNS`
InspectRow = dict[str, str | int | float]


def inspect_file(path: Path | Input, sample_rate: int | None = None, max_seconds: float | None = None) -> InspectRow:
    """One row: ``path``'s codec, native rate, channels, duration and bit rate, or why it is unusable (an
    :class:`~mom_bench.core.inputs.Input` found with a problem, such as a folder that could not be searched,
    is unusable for that reason)."""
    item = path if isinstance(path, Input) else Input(Path(path))
    path = item.path
    row: dict[str, Any] = {**dict.fromkeys(COLUMNS, ""), "file": str(path), "status": RowStatus.OK}
    if item.problem:
        row.update(status=RowStatus.UNUSABLE, error=item.problem)
        return row
    try:
        info = audio.probe(path)
        row.update(codec=info.codec, sample_rate=info.sample_rate, channels=info.channels,
                   duration_s=round(info.duration_s, 3) if info.duration_s is not None else "",
                   bit_rate=info.bit_rate or "")
        decoded = audio.load(path, sample_rate, max_seconds=max_seconds or audio.DEFAULT_MAX_SECONDS)
        row["duration_s"] = round(decoded.duration_s, 3)
    except audio.AudioError as err:
        row.update(status=RowStatus.UNUSABLE, error=err.reason)
    return row


def inspect_files(files: Sequence[Path | Input], sample_rate: int | None = None, max_seconds: float | None = None,
                  progress: bool = True) -> list[InspectRow]:
    from tqdm.auto import tqdm

    return [inspect_file(f, sample_rate, max_seconds)
            for f in tqdm(files, desc="inspect", unit="file", disable=not progress or len(files) < 5,
                          leave=False)]
