"""Hostile and broken inputs of a build and of the one audio path (issue 11 items 13, 17 and 20).

Item 13: a row list (the csv source's manifest) is read strictly but one bad row never stops a build;
decoded signals far over full scale are unusable. Item 17: decoding stops just past the length limit
whatever the file's header says. Item 20: paths written in a protocol file stay in its folder.
"""
from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from _build_fixtures import PROTOCOL, make_benchmark, write_tone

from mom_bench.core import audio
from mom_bench.dataset import build_benchmark, columns, protocols
from mom_bench.dataset.paths import UnsafePath
from mom_bench.dataset.process import process
from mom_bench.dataset.protocols import ProtocolError
from mom_bench.dataset.sources.csvsource import CsvSource, ManifestError

REPO = Path(__file__).resolve().parents[1]
HEADER = ["id", "label", "generator", "source", "path", "title"]


def _write_float_wav(path: Path, samples: np.ndarray, rate: int = 16000) -> Path:
    """A mono 32-bit IEEE float WAV (format tag 3), written byte by byte: encoders refuse such samples."""
    data = samples.astype("<f4").tobytes()
    fmt = struct.pack("<HHIIHH", 3, 1, rate, rate * 4, 4, 32)
    path.write_bytes(b"RIFF" + struct.pack("<I", 4 + 8 + len(fmt) + 8 + len(data)) + b"WAVE"
                     + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data)
    return path


def _float_wavs(folder: Path) -> tuple[Path, Path]:
    """A square wave at +-1e30 and a sine peaking at 1.5 x full scale, as float WAVs."""
    t = np.arange(16000) / 16000
    return (_write_float_wav(folder / "huge.wav", np.where(np.sin(2 * np.pi * 3 * t) > 0, 1e30, -1e30)),
            _write_float_wav(folder / "loud.wav", 1.5 * np.sin(2 * np.pi * 220 * t)))


def _report(out: Path) -> dict:
    return json.loads((out / "build_report.json").read_text())


def _lines(rows: list[list[str]]) -> str:
    return "".join(",".join(r) + "\n" for r in rows)


# --------------------------------------------------------------------------------------------------
# item 13: manifests


@pytest.fixture(scope="module")
def hostile_build(tmp_path_factory):
    """One build of a manifest with a ragged long row, a ragged short row, a float WAV at 1e30 and one mildly
    over full scale, beside ordinary rows."""
    folder = tmp_path_factory.mktemp("hostile")
    proto, _ = make_benchmark(folder, n_real=3, n_fake=3, n_ood=1)
    _float_wavs(folder / "audio")
    rows = [HEADER,
            ["real_000", "0", "real", "real", "audio/real_000.wav", "Plain"],
            ["real_001", "0", "real", "real", "audio/real_001.flac", '"Quoted, fine"'],
            ["fake_000", "1", "gen_a", "gen_a", "audio/fake_000.wav", "ok"],
            ["fake_001", "1", "gen_b", "gen_b", "audio/fake_001.flac", "Hello", " world"],  # unquoted comma
            ["fake_002", "1", "gen_a", "gen_a", "audio/fake_002.mp3"],  # a field short
            ["ood_000", "1", "gen_ood", "gen_ood", "audio/ood_000.wav", "trailing comma", ""],
            ["huge", "1", "gen_a", "gen_a", "audio/huge.wav", "1e30"],
            ["loud", "1", "gen_b", "gen_b", "audio/loud.wav", "1.5"]]
    table = folder / "rows.csv"
    table.write_text(_lines(rows))
    out = folder / "out"
    result = build_benchmark(str(proto), out, source_options={"csv": str(table)}, progress=False)
    return result, _report(out), {r["id"]: r for r in _report(out)["rows"]}


def test_ragged_rows_are_reported_with_their_line_and_the_build_goes_on(hostile_build):
    """issue 11 item 13: one ragged row used to abort the build with a bare TypeError."""
    result, report, rows = hostile_build
    assert rows["fake_001"]["status"] == "unusable"
    assert rows["fake_001"]["reason"] == "rows.csv line 5: has 7 fields, header has 6"
    assert rows["fake_002"]["status"] == "unusable"
    assert rows["fake_002"]["reason"] == "rows.csv line 6: has 5 fields, header has 6"
    # a trailing empty field carries nothing and is accepted; so is a quoted comma
    assert rows["ood_000"]["status"] == rows["real_001"]["status"] == "written"
    assert report["counts"]["rows"] == 8 == len(rows)  # every input row written or reported
    assert result.n_written == 5


def test_samples_far_over_full_scale_are_unusable_mild_overs_are_clipped_and_said(hostile_build):
    """issue 11 item 13: a float WAV at +-1e30 used to be stored after silent clipping."""
    _, _, rows = hostile_build
    assert rows["huge"]["status"] == "unusable"
    assert "peak 1e+30 x full scale is over the limit of 1000 x" in rows["huge"]["reason"]
    assert rows["loud"]["status"] == "written"
    assert "clipped to full scale (peak 1.5 x full scale)" in rows["loud"]["reason"]
    assert rows["fake_000"]["reason"] is None


def test_decoded_files_far_over_full_scale_are_unusable_and_clipping_is_said(tmp_path):
    """issue 11 item 13: the decoded-file path of one row, as a build worker runs it."""
    huge, loud = _float_wavs(tmp_path)
    out = process("huge", huge, sample_rate=16000)
    assert out["status"] == "unusable" and "over the limit of 1000 x full scale" in out["reason"]
    out = process("loud", loud, sample_rate=16000)
    assert out["status"] == "written" and out["reason"].startswith("written with ")
    assert audio.load(out["audio_bytes"]).samples.abs().max() <= 1.0


def test_in_memory_waveforms_far_over_full_scale_are_unusable():
    """issue 11 item 13: the waveform path of a source checks the same limit as decoded files."""
    out = process("w", (np.full(1000, 1e30, dtype=np.float32), 16000), sample_rate=16000)
    assert out["status"] == "unusable" and "over the limit of 1000 x full scale" in out["reason"]
    ok = process("w", (np.full(1000, 0.5, dtype=np.float32), 16000), sample_rate=16000)
    assert ok["status"] == "written" and ok["reason"] is None


def _source(tmp_path: Path, data: bytes, name: str = "rows.csv") -> CsvSource:
    proto = tmp_path / "proto.yaml"
    proto.write_text(PROTOCOL)
    table = tmp_path / name
    table.write_bytes(data)
    return CsvSource(protocols.load(str(proto)), {"csv": str(table)})


def test_a_bom_is_accepted(tmp_path):
    """issue 11 item 13: a UTF-8 BOM used to read as "missing column id"."""
    data = _lines([HEADER, ["a", "0", "real", "real", "x.wav", "t"]])
    (row,) = _source(tmp_path, b"\xef\xbb\xbf" + data.encode()).rows()
    assert (row.id, row.label, row.meta) == ("a", 0, {"title": "t"})


def test_a_duplicated_column_name_refuses_the_manifest(tmp_path):
    """issue 11 item 13: a duplicate `path` header used to take the second column for every row."""
    data = _lines([["id", "label", "generator", "source", "path", "path"],
                   ["a", "0", "real", "real", "x.wav", "y.wav"]])
    with pytest.raises(ManifestError,
                       match=r"rows.csv: duplicated column name\(s\) in the header: 'path' in columns 5, 6"):
        _source(tmp_path, data.encode())


def test_a_column_without_a_name_refuses_the_manifest(tmp_path):
    """issue 11 item 13: an unnamed column's values would land in a column named ''."""
    data = _lines([["id", "label", "generator", "source", "path", ""], ["a", "0", "real", "real", "x.wav", "y"]])
    with pytest.raises(ManifestError, match=r"header column\(s\) 6 have no name"):
        _source(tmp_path, data.encode())


def test_a_latin1_manifest_names_the_file_the_byte_and_the_line(tmp_path):
    """issue 11 item 13: a latin-1 file used to give a bare UnicodeDecodeError."""
    data = _lines([HEADER, ["a", "0", "real", "real", "x.wav", "plain"],
                   ["b", "0", "real", "real", "y.wav", "Beyonc\xe9"]])
    offset = data.index("\xe9")
    with pytest.raises(ManifestError) as err:
        _source(tmp_path, data.encode("latin-1"))
    text = str(err.value)
    assert str(tmp_path / "rows.csv") in text and f"byte offset {offset}" in text and "line 3" in text
    assert "re-save the file as UTF-8" in text


def test_metadata_columns_that_collide_with_the_build_columns_are_refused(tmp_path):
    """issue 11 item 13: columns `audio` and `meta_audio` both became `meta_audio` and one value was dropped."""
    data = _lines([HEADER[:5] + ["audio", "meta_audio"], ["a", "0", "real", "real", "x.wav", "1", "2"]])
    with pytest.raises(ManifestError, match="metadata columns 'audio' and 'meta_audio' would both be stored as "
                                            "column 'meta_audio'"):
        _source(tmp_path, data.encode())
    # the same guard holds for any source, where the build's features are made
    with pytest.raises(columns.ColumnClash, match="'audio' and 'meta_audio'"):
        columns.features({"audio": pa.string(), "meta_audio": pa.int64()})


def test_metadata_values_are_numbers_only_when_the_whole_text_is_one(tmp_path):
    """issue 11 item 13: `nan`, `inf` and `1_000` stay text (a NaN would make the journal's JSON invalid)."""
    rows = [HEADER[:5] + ["a", "b", "c", "d", "e"],
            ["x", "0", "real", "real", "x.wav", "nan", "inf", "1_000", " 12 ", "2.5"]]
    (row,) = _source(tmp_path, _lines(rows).encode()).rows()
    assert row.meta == {"a": "nan", "b": "inf", "c": "1_000", "d": 12, "e": 2.5}


# --------------------------------------------------------------------------------------------------
# item 17: a header that lies about the length


def _lying_mp3(folder: Path, header_s: float = 2.0) -> Path:
    """A short VBR MP3 whose Xing header counts its own frames, followed by 30 min of raw frames (one minute
    encoded, repeated): FFmpeg reports the header's duration, decoding plays every frame."""
    def encode(out: Path, seconds: float, *extra: str) -> bytes:
        subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                        f"sine=frequency=300:sample_rate=8000:duration={seconds}", "-ac", "1", "-c:a", "libmp3lame",
                        *extra, str(out)], check=True)
        return out.read_bytes()

    short = bytearray(encode(folder / "short.mp3", header_s, "-q:a", "9"))
    frames = encode(folder / "minute.mp3", 60, "-b:a", "8k", "-write_xing", "0", "-id3v2_version", "0",
                    "-write_id3v1", "0") * 30
    xing = short.find(b"Xing")
    assert xing > 0 and struct.unpack(">I", short[xing + 4:xing + 8])[0] & 3 == 3  # frames and bytes fields
    # the header's byte count covers the whole file, so FFmpeg takes it for a single stream
    short[xing + 12:xing + 16] = struct.pack(">I", len(short) + len(frames))
    liar = folder / "liar.mp3"
    liar.write_bytes(bytes(short) + frames)
    return liar


_MEASURE = textwrap.dedent("""
    import json, resource, sys
    from mom_bench.core import audio
    audio.load(sys.argv[2], 48000)  # imports and decoder set-up count in the baseline
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        audio.load(sys.argv[1], 48000, max_seconds=10)
        error = None
    except audio.AudioError as err:
        error = err.reason
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"error": error, "grew_mib": (after - before) / 1024}))
""")


@pytest.mark.slow  # a fresh interpreter (torch import) for a clean peak-memory figure
@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs the ffmpeg command to write the MP3")
def test_decoding_stops_at_the_limit_whatever_the_header_says(tmp_path):
    """issue 11 item 17: an MP3 whose header says 2 s but which plays 30 min used to be decoded to its end
    (at 48 kHz about 700 MB of samples) before the limit fired; memory is now bounded by the limit."""
    liar = _lying_mp3(tmp_path)
    assert audio.probe(liar).duration_s < 3
    small = tmp_path / "small.wav"
    write_tone(small, 0, 0.5, ("wav", 8000, 1))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-c", _MEASURE, str(liar), str(small)], capture_output=True, text=True,
                          env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    measured = json.loads(proc.stdout.strip().splitlines()[-1])
    assert measured["grew_mib"] < 100
    assert measured["error"] is not None and measured["error"].startswith("duration over the limit of 10 s")
    assert "the header says 2.2 s" in measured["error"]


@pytest.mark.parametrize("ext", ["wav", "flac", "mp3"])
def test_bounded_decoding_gives_the_samples_of_a_whole_decode(tmp_path, ext):
    """issue 11 item 17: stopping the decoder at the limit changes no accepted file's samples (content hashes
    and fingerprints of earlier builds stay valid)."""
    from torchcodec.decoders import AudioDecoder

    path = tmp_path / f"t.{ext}"
    write_tone(path, 3, 1.3, (ext, 22050, 2))
    for rate in (None, 16000):
        whole = AudioDecoder(str(path), sample_rate=rate).get_all_samples().data.mean(dim=0)
        assert audio.load(path, rate).samples.numpy().tobytes() == whole.numpy().tobytes()


# --------------------------------------------------------------------------------------------------
# item 20: paths written in a protocol file


def _protocol_with(folder: Path, source: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    proto = folder / "proto.yaml"
    proto.write_text(PROTOCOL.replace("source: {kind: csv}", f"source: {source}"))
    return proto


def _outside_row(tmp_path: Path) -> tuple[Path, Path]:
    """An audio file and a row list naming it, in a folder outside the protocol's."""
    outside = tmp_path / "outside"
    (outside / "audio").mkdir(parents=True)
    write_tone(outside / "audio" / "secret.wav", 1, 0.5, ("wav", 16000, 1))
    table = outside / "rows.csv"
    table.write_text(_lines([HEADER[:5], ["secret", "0", "real", "real", "audio/secret.wav"]]))
    return outside, table


def test_a_protocol_root_outside_its_folder_is_refused(tmp_path):
    """issue 11 item 20: `source: {kind: csv, root: /}` in a protocol used to embed any readable file."""
    outside, _ = _outside_row(tmp_path)
    proto = _protocol_with(tmp_path / "bench", f"{{kind: csv, csv: {tmp_path / 'bench' / 'rows.csv'}, root: /}}")
    (tmp_path / "bench" / "rows.csv").write_text(
        _lines([HEADER[:5], ["secret", "0", "real", "real", str(outside / "audio" / "secret.wav").lstrip("/")]]))
    with pytest.raises(UnsafePath) as err:
        build_benchmark(str(proto), tmp_path / "out", progress=False)
    text = str(err.value)
    assert "source.root: path '/' resolves to /, outside " + str((tmp_path / "bench").resolve()) in text
    assert "give the path on the command line" in text


def test_a_protocol_csv_outside_its_folder_and_a_symlink_out_are_refused(tmp_path):
    """issue 11 item 20: the protocol's `csv` option is confined like its `root`, symlinks resolved."""
    _, table = _outside_row(tmp_path)
    (tmp_path / "bench").mkdir()
    (tmp_path / "bench" / "link.csv").symlink_to(table)
    for n, value in enumerate([str(table), "../outside/rows.csv", "link.csv"]):
        proto = _protocol_with(tmp_path / "bench", f"{{kind: csv, csv: {value}}}")
        with pytest.raises(UnsafePath, match=f"source.csv: path '{value}' resolves to {table}, outside "):
            build_benchmark(str(proto), tmp_path / f"out{n}", progress=False)


def test_paths_given_by_the_user_are_trusted(tmp_path):
    """issue 11 item 20: the same folder given on the command line (or the API) is the user's choice."""
    outside, table = _outside_row(tmp_path)
    proto = _protocol_with(tmp_path / "bench", "{kind: csv, csv: nothing.csv, root: /}")
    result = build_benchmark(str(proto), tmp_path / "out", source_options={"csv": str(table), "root": str(outside)},
                             progress=False)
    assert result.n_written == 1


def test_protocol_paths_are_relative_to_the_protocol_and_may_use_the_users_manifest_folder(tmp_path, monkeypatch):
    """issue 11 item 20: inside paths work from any working folder; `root` may also lie in the folder of a row
    list given on the command line."""
    proto = _protocol_with(tmp_path / "bench", "{kind: csv, csv: lists/rows.csv, root: media}")
    (tmp_path / "bench" / "lists").mkdir()
    (tmp_path / "bench" / "media").mkdir()
    write_tone(tmp_path / "bench" / "media" / "a.wav", 2, 0.5, ("wav", 16000, 1))
    (tmp_path / "bench" / "lists" / "rows.csv").write_text(_lines([HEADER[:5], ["a", "0", "real", "real", "a.wav"]]))
    monkeypatch.chdir(tmp_path)
    assert build_benchmark(str(proto), tmp_path / "out", progress=False).n_written == 1

    outside, table = _outside_row(tmp_path)
    proto = _protocol_with(tmp_path / "bench2", f"{{kind: csv, root: {outside}}}")
    assert build_benchmark(str(proto), tmp_path / "out2", source_options={"csv": str(table)},
                           progress=False).n_written == 1


def test_protocol_path_options_must_be_strings(tmp_path):
    """issue 11 item 20: the loader checks the options' type where they enter."""
    proto = _protocol_with(tmp_path / "bench", "{kind: csv, root: 5}")
    with pytest.raises(ProtocolError, match="source.root: expected a path"):
        protocols.load(str(proto))
