"""How much disk a build needs, and whether the target filesystem has it: the build's disk preflight.

A build holds two copies of its audio at its peak: the staging journal (``.build/staging``) and the new
shards written beside it (``.build/publish``), just before the swap removes the journal. The previous build,
if any, is already on the disk and stays there until then. So the extra bytes a build needs are about
``stored(rows still to make) + stored(every row to write)``, plus a margin (:data:`SAFETY`, :data:`ROW_OVERHEAD`,
:data:`FIXED_OVERHEAD`).

What a row stores is estimated from what is known before decoding:

* ``--store original``: the input file's size (``stat``), exactly what goes into the ``audio`` column;
* ``--store flac``: stored seconds x the protocol's rate x 2 bytes (16-bit mono PCM) x :data:`FLAC_RATIO`.
  Durations come from the files' headers (:func:`mom_bench.core.audio.probe`) on a bounded sample of the files of
  each format (:data:`PROBES_PER_FORMAT`, spread over the list); every other file's duration is its size
  times the sample's seconds per byte for its format. ``--max-seconds`` (or the protocol's) caps each row.

Rows a source downloads or synthesises while building have no file to measure beforehand: they are
estimated at the stored-length cap when there is one, else the check is skipped (the caller says why).

Free space is read in one place, :func:`free_bytes`.
"""
from __future__ import annotations

import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mom_bench.core.errors import MomBenchError, NotEnoughSpace

#: FLAC output as a fraction of 16-bit PCM, taken at the high end of the range usually quoted for music
#: ("typically reduced to between 50 and 70 percent of its original size": the FLAC article of Wikipedia,
#: after the FLAC project's comparisons). Noise-like audio compresses less; :data:`SAFETY` covers part of it.
FLAC_RATIO = 0.7
#: Factor on every estimate: variation of the FLAC ratio between songs and of durations around the sample.
SAFETY = 1.10
#: Bytes per row and copy besides its audio: its small columns and statistics in the journal and the shards,
#: its lines in the row table, the report and splits.csv, and parquet framing.
ROW_OVERHEAD = 4096
#: Bytes for what a build writes once whatever its size (the card, parquet footers, the journal's options).
FIXED_OVERHEAD = 8 << 20
#: Files whose header is read per format (file extension) to learn its seconds per byte.
PROBES_PER_FORMAT = 32
#: Seconds per byte assumed for a format none of whose sampled headers could be read: 32 kbit/s, lower than
#: the bit rate of any music file of a benchmark, so the duration is overestimated, never under.
_FALLBACK_SECONDS_PER_BYTE = 8 / 32_000
#: The stored length of the ``--max-seconds`` alternative offered when a full-length build does not fit:
#: what CLAM's protocol reads of each song (the first 90 s).
FIRST_SECONDS_ALTERNATIVE = 90.0
#: Source kinds whose ``fetch`` only finds a file that is already on the disk (no download, no synthesis),
#: so the preflight may call it (or whose fetch of an archive member or Hub part offers ``known_input`` instead).
#: A MoM source counts only without ``--download``.
_LOOKUP_KINDS = {"csv", "sonics", "echoes", "music8k"}


def free_bytes(path: str | Path) -> int:
    """Bytes free for this user on the filesystem that holds ``path`` (or, when it does not exist yet, its
    nearest existing parent). The one place a build reads free space."""
    p = Path(path).absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    return int(shutil.disk_usage(p).free)


def human_bytes(n: float) -> str:
    """``n`` bytes in decimal units with three significant figures (``1.23 GB``)."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.3g} {unit}"
        n /= 1000
    raise AssertionError("unreachable")


@dataclass
class Inputs:
    """What is known of each listed row's input before decoding: ``sizes`` (id -> bytes of its file) and
    ``seconds`` (id -> its duration, probed or extrapolated, or an upper bound); ``how`` says which."""

    sizes: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    how: str = ""


def fetch_is_lookup(kind: str, source: Any) -> bool:
    """Whether the rows of a source of ``kind`` can be fetched before the build without downloading or
    synthesising anything (see :data:`_LOOKUP_KINDS`)."""
    return kind in _LOOKUP_KINDS or (kind == "mom" and not getattr(source, "download", False))


def survey(rows: Iterable[Any], *, lookup: bool, cap_s: float | None) -> Inputs | str:
    """:class:`Inputs` of ``rows`` (:class:`mom_bench.dataset.sources.SourceRow` s), or the reason they
    cannot be had before the build. ``lookup``: the rows' ``fetch`` only finds a local file (see
    :func:`fetch_is_lookup`); otherwise every row is counted at ``cap_s`` seconds, when there is a cap."""
    rows = list(rows)
    if not lookup:
        if cap_s is None:
            return ("its rows are downloaded or generated while building and it stores whole songs, so their "
                    "size is not known beforehand")
        return Inputs(seconds={r.id: cap_s for r in rows},
                      how=f"{len(rows)} rows generated or downloaded while building, "
                          f"each counted at the {cap_s:g} s cap")
    paths: dict[str, Path] = {}
    inputs = Inputs()
    for row in rows:
        # a fetch that reads a member of an archive (or downloads it) says what it knows of its input instead:
        # (bytes or None, seconds or None), from the archive's directory and the corpus' manifest
        known = getattr(row.fetch, "known_input", None)
        if callable(known):
            size, seconds = known()
            if size is not None:
                inputs.sizes[row.id] = int(size)
            if seconds is not None or size is not None:
                inputs.seconds[row.id] = float(seconds) if seconds is not None else size * _FALLBACK_SECONDS_PER_BYTE
            continue
        try:
            got = row.fetch() if row.fetch is not None else None
        except (MomBenchError, OSError):  # missing or refused: the build reports it, and it stores nothing
            continue
        if isinstance(got, (str, Path)):
            try:
                inputs.sizes[row.id] = Path(got).stat().st_size
            except OSError:
                continue
            paths[row.id] = Path(got)
        elif isinstance(got, (bytes, bytearray, memoryview)):  # not kept for probing: memory stays bounded
            inputs.sizes[row.id] = len(got)
            inputs.seconds[row.id] = len(got) * _FALLBACK_SECONDS_PER_BYTE
        elif isinstance(got, tuple) and len(got) == 2:  # (waveform, rate): its duration is exact
            wave, rate = got
            inputs.seconds[row.id] = float(getattr(wave, "shape", [len(wave)])[-1]) / float(rate)
    probed = _extrapolate(paths, inputs)
    inputs.how = (f"the sizes of {len(inputs.sizes)} input files and the durations in the headers of {probed} of "
                  f"them, up to {PROBES_PER_FORMAT} per format, the others extrapolated by size")
    return inputs


def _extrapolate(paths: dict[str, Path], inputs: Inputs) -> int:
    """Fill ``inputs.seconds`` of the files in ``paths``: probed for a sample of each format, size x the
    sample's seconds per byte for the rest. Returns how many headers were read."""
    from mom_bench.core import audio

    by_format: dict[str, list[str]] = {}
    for rid, path in paths.items():
        by_format.setdefault(path.suffix.lower(), []).append(rid)
    probed = 0
    for ids in by_format.values():
        step = max(1, len(ids) // PROBES_PER_FORMAT)
        seconds = size = 0.0
        for rid in ids[::step][:PROBES_PER_FORMAT]:
            try:
                duration = audio.probe(paths[rid]).duration_s
            except audio.AudioError:
                continue
            probed += 1
            if duration is not None and duration > 0:
                inputs.seconds[rid] = duration
                seconds, size = seconds + duration, size + inputs.sizes[rid]
        per_byte = seconds / size if seconds > 0 and size > 0 else _FALLBACK_SECONDS_PER_BYTE
        for rid in ids:
            inputs.seconds.setdefault(rid, inputs.sizes[rid] * per_byte)
    return probed


def stored_bytes(inputs: Inputs, ids: Iterable[str], *, store: str, sample_rate: int,
                 cap_s: float | None) -> int | None:
    """Estimated bytes of the stored audio of rows ``ids`` (rows with nothing known store nothing: they
    will be missing); None when ``store`` is ``original`` and the inputs' sizes are not known."""
    total = 0.0
    for rid in ids:
        if store == "original":
            if rid in inputs.sizes:
                total += inputs.sizes[rid] + ROW_OVERHEAD
            elif rid in inputs.seconds:
                return None
            continue
        if rid not in inputs.seconds:
            continue
        seconds = inputs.seconds[rid] if cap_s is None else min(inputs.seconds[rid], cap_s)
        total += seconds * sample_rate * 2 * FLAC_RATIO + ROW_OVERHEAD
    return int(total)


def peak_bytes(inputs: Inputs, todo: list[str], every: list[str], *, store: str, sample_rate: int,
               cap_s: float | None) -> int | None:
    """Extra bytes a build needs at its peak: the journal of the rows still to make plus the shards of every
    row, with the margins of this module (None: not known, see :func:`stored_bytes`)."""
    staged = stored_bytes(inputs, todo, store=store, sample_rate=sample_rate, cap_s=cap_s)
    shards = stored_bytes(inputs, every, store=store, sample_rate=sample_rate, cap_s=cap_s)
    if staged is None or shards is None:
        return None
    return int(SAFETY * (staged + shards)) + FIXED_OVERHEAD


def check_space(out: Path, inputs: Inputs, todo: list[str], every: list[str], *, store: str, sample_rate: int,
                cap_s: float | None, original_allowed: bool) -> str:
    """Refuse (:class:`NotEnoughSpace`) a build into ``out`` that would not fit on its filesystem, naming
    what it needs, what is free, which storage options would fit and how to override; else return the line
    that tells the user what the build needs."""
    needed = peak_bytes(inputs, todo, every, store=store, sample_rate=sample_rate, cap_s=cap_s)
    if needed is None:
        return "disk check skipped: some rows are waveforms made by the source, whose original size is not known"
    free = free_bytes(out)
    what = f"store {store}" + (f", first {cap_s:g} s" if cap_s is not None else "")
    line = (f"disk: this build needs about {human_bytes(needed)} at its peak ({what}; rows to make: {len(todo)}, "
            f"to write: {len(every)}; estimated from {inputs.how}; plus a {SAFETY - 1:.0%} margin); "
            f"{human_bytes(free)} free")
    if needed <= free:
        return line
    options: list[tuple[bool, str]] = []
    seen = {needed}
    for label, alt_store, alt_cap in _alternatives(store, cap_s, original_allowed):
        alt = peak_bytes(inputs, todo, every, store=alt_store, sample_rate=sample_rate, cap_s=alt_cap)
        if alt is not None and alt < needed and alt not in seen:  # an option that saves nothing more is no advice
            seen.add(alt)
            options.append((alt <= free, f"{label} needs about {human_bytes(alt)}"))
    fits = [text for ok, text in options if ok]
    rest = [text for ok, text in options if not ok]
    advice = (f" Would fit: {'; '.join(fits)}." if fits else "") + \
        (f" Would not fit either: {'; '.join(rest)}." if rest else "")
    raise NotEnoughSpace(
        f"not enough disk space for this build in {out}: it needs about {human_bytes(needed)} at its peak (the "
        f"staging journal and the new shards together; {what}; estimated from {inputs.how}; plus a "
        f"{SAFETY - 1:.0%} margin), and its filesystem has {human_bytes(free)} free.{advice} To build anyway: "
        "--no-space-check (a build that fills the disk stops, keeping its work and any previous build: make room "
        "and run the same command again), or fewer rows with --limit N. Nothing was written.")


def _alternatives(store: str, cap_s: float | None, original_allowed: bool) -> list[tuple[str, str, float | None]]:
    """(option text, store, cap) of the storage options offered instead of the requested one."""
    out: list[tuple[str, str, float | None]] = []
    if store != "original" and original_allowed:
        out.append(("--store original (each input file as it is, whole)", "original", None))
    if store == "original":
        out.append(("--store flac (mono FLAC at the protocol's rate, whole songs)", "flac", cap_s))
    if cap_s is None or cap_s > FIRST_SECONDS_ALTERNATIVE:
        out.append((f"--store flac --max-seconds {FIRST_SECONDS_ALTERNATIVE:g} (for jobs that use only the first "
                    f"{FIRST_SECONDS_ALTERNATIVE:g} s, as CLAM does)", "flac", FIRST_SECONDS_ALTERNATIVE))
    return out
