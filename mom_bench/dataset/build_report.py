"""What a build produces besides its data: the report's version, the dataset fingerprint, the result object
and the build's error type. Shared by the builder and its final step."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from mom_bench.core.errors import BuildError as BuildError  # raised by the builder, imported from here
from mom_bench.report import documents

REPORT_SCHEMA_VERSION = 1


@dataclass
class BuildResult:
    out_dir: Path
    benchmark: str
    benchmark_version: str
    fingerprint: str
    counts: dict[str, dict[str, int]]  # split -> generator -> rows written
    n_rows: int
    n_written: int
    n_missing: int
    n_unusable: int
    report_path: Path
    shortcut: documents.ShortcutCheck | None = None
    n_excluded: int = 0  # left out on purpose by the protocol (e.g. SONICS' official filter); not a failure
    reasons: dict[str, int] = field(default_factory=dict)  # "status: reason" -> count (most common first)
    reused: bool = False  # True when an up-to-date finished build was found and nothing was done
    reals_by_source: dict[str, dict[str, int]] = field(default_factory=dict)  # split -> pool of reals -> rows
    real_groups: dict[str, int] = field(default_factory=dict)  # split -> groups (tracks) of the reals
    audio_fingerprint: str | None = None
    expected_audio_fingerprint: str | None = None  # the protocol's, when built with the protocol's own options
    segments: dict[str, dict] = field(default_factory=dict)  # split -> songs, with AI, AI time share (if segments)
    metadata_shortcuts: documents.MetadataShortcuts | None = None
    overlap: list[documents.BuildOverlap] = field(default_factory=list)  # rows other local builds hold too

    @property
    def ok(self) -> bool:
        """True when every row was written (nothing missing or unusable)."""
        return self.n_missing == 0 and self.n_unusable == 0

    def summary(self) -> str:
        lines = (["already built with the same protocol, options and rows (--overwrite rebuilds it)"]
                 if self.reused else [])
        lines += [f"{self.benchmark} {self.benchmark_version}: {self.n_written} of {self.n_rows} rows written, "
                 f"{self.n_missing} missing, {self.n_unusable} unusable"
                 + (f", {self.n_excluded} excluded" if self.n_excluded else "") + f" -> {self.out_dir}"]
        for split, gens in self.counts.items():
            lines.append(f"  {split:<10} {sum(gens.values()):>7}  " +
                         ", ".join(f"{g} {n}" for g, n in sorted(gens.items())))
        every_pool = {p for by_pool in self.reals_by_source.values() for p in by_pool}
        if len(every_pool) > 1:  # one line per split only where there is more than one pool to tell apart
            for split, by_pool in self.reals_by_source.items():
                lines.append(f"  {split:<10} reals from {self.real_groups.get(split, '?')} groups: "
                             + ", ".join(f"{p} {n}" for p, n in by_pool.items()))
        if self.expected_audio_fingerprint:
            same = self.audio_fingerprint == self.expected_audio_fingerprint
            lines.append(f"  audio fingerprint {(self.audio_fingerprint or '')[:16]}: "
                         + ("the protocol's, as on every machine" if same else
                            f"NOT the protocol's ({self.expected_audio_fingerprint[:16]}): this machine builds other "
                            "audio than the published benchmark; please report it with `lscpu` and `mom-bench info`"))
        for split, seg in self.segments.items():
            lines.append(f"  {split:<10} segments: {seg.get('songs_with_ai')} of {seg.get('songs')} songs contain AI, "
                         f"AI time share {seg.get('ai_time_share', 0):.3f}")
        for reason, n in list(self.reasons.items())[:5]:
            lines.append(f"  {n:>7} x {reason}")
        if len(self.reasons) > 5:
            lines.append(f"  ... {len(self.reasons) - 5} more reasons in {self.report_path}")
        findings = (self.metadata_shortcuts or {}).get("findings") or []
        if findings:
            lines.append(f"  SHORTCUTS: {len(findings)} found in the input files or ids (metadata_shortcuts in the "
                         "report, 'Shortcuts found in this build' on the data card):")
            lines += [f"    {f}" for f in findings[:8]]
            if len(findings) > 8:
                lines.append(f"    ... {len(findings) - 8} more in the report")
        for o in self.overlap:
            if o.get("exact") or o.get("near"):
                near = f"{o['near']} near duplicates" if o.get("near_checked") else "near duplicates not checked " \
                    "(a build without fingerprints)"
                lines.append(f"  overlap with {o['build']} ({o.get('folder', '')}): {o['exact']} rows exact, {near} "
                             "(ids under overlap in the report; evaluate --exclude-overlap-with drops them)")
        if self.shortcut and self.shortcut.get("warn"):
            lines.append(f"  WARNING: global signal statistics alone separate real from fake (F1 "
                         f"{self.shortcut.get('f1', float('nan')):.2f}, balanced accuracy "
                         f"{self.shortcut.get('balanced_accuracy') or float('nan'):.2f}): "
                         "see shortcut_check in the report")
        return "\n".join(lines)

    @classmethod
    def from_report(cls, out_dir: Path) -> BuildResult:
        path = Path(out_dir) / "build_report.json"
        rep = json.loads(path.read_text(encoding="utf-8"))
        c = rep["counts"]
        return cls(Path(out_dir), rep["benchmark"], rep["benchmark_version"], rep["fingerprint"],
                   c["by_split"], c["rows"], c["written"], c["missing"], c["unusable"], path,
                   rep.get("shortcut_check"), c.get("excluded", 0), c.get("reasons", {}),
                   reals_by_source=c.get("reals_by_source", {}), real_groups=c.get("real_groups_by_split", {}),
                   audio_fingerprint=rep.get("audio_fingerprint"),
                   expected_audio_fingerprint=rep.get("expected_audio_fingerprint"),
                   segments=rep.get("segments") or {},
                   metadata_shortcuts=rep.get("metadata_shortcuts"), overlap=rep.get("overlap") or [])


def _digest(lines: list[str]) -> str:
    return hashlib.sha256(("\n".join(sorted(lines)) + "\n").encode("utf-8")).hexdigest()


def segments_text(row: dict) -> str:
    """The canonical text of a row's segments for the fingerprints: ``""`` for a row without a ``segments`` column
    value (every build but spliced ones: their fingerprints are those of earlier versions), else
    ``start,end,label,generator`` per segment (seconds to the microsecond), ``;``-joined. ``row`` holds either the
    stored column (``segments``: a list of dicts) or the journal's ``segments_json``.

    >>> segments_text({"segments": [{"start": 0.0, "end": 1.5, "label": 0, "generator": "real"},
    ...                             {"start": 1.5, "end": 3.0, "label": 1, "generator": "udio"}]})
    '0.000000,1.500000,0,real;1.500000,3.000000,1,udio'
    >>> segments_text({"id": "a"})
    ''
    """
    segs = row.get("segments")
    if segs is None and row.get("segments_json"):
        segs = [dict(zip(("start", "end", "label", "generator"), s)) for s in json.loads(row["segments_json"])]
    if not segs:
        return ""
    return ";".join(f"{float(s['start']):.6f},{float(s['end']):.6f},{int(s['label'])},{s['generator']}" for s in segs)


def _with_segments(line: str, row: dict) -> str:
    text = segments_text(row)
    return f"{line}\t{text}" if text else line


def fingerprint(rows: list[dict]) -> str:
    """sha256 of the sorted ``id\\tsplit\\tlabel\\tgenerator\\tcontent_sha256`` lines of the written rows (a row
    with segments: ``\\t`` and :func:`segments_text` appended)."""
    return _digest([_with_segments(f"{r['id']}\t{r['split']}\t{r['label']}\t{r['generator']}\t{r['content_sha256']}",
                                   r) for r in rows])


def label_fingerprint(rows: list[dict]) -> str:
    """sha256 of the sorted ``id\\tsplit\\tlabel\\tgenerator`` lines (with a row's segments appended as in
    :func:`fingerprint`: they are labels too): all that scoring reads, so it is the same on every machine for the
    same benchmark version (the audio may differ in the last bits)."""
    return _digest([_with_segments(f"{r['id']}\t{r['split']}\t{r['label']}\t{r['generator']}", r) for r in rows])


def audio_fingerprint(rows: list[dict]) -> str:
    """sha256 of the sorted ``id\\tcontent_sha256`` lines: which audio the build holds."""
    return _digest([f"{r['id']}\t{r['content_sha256']}" for r in rows])
