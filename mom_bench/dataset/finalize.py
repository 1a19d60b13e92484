"""Phase 2 of a build: from the staging journal to the published folder.

Nothing here decodes audio. The rows' small columns are read into memory (a few hundred bytes a row);
the audio is streamed from the journal (and, for rows kept from the previous build, from its shards) into
the output shards a row group at a time.

Write, then swap: every output is written under ``<out>/.build/publish``; renaming that folder to
``.build/swap`` commits the new build, and only then are the entries of :data:`PUBLISHED` moved into place,
each old one aside first, the report last. A failure before the commit leaves the previous build as it was;
a crash during the swap is finished by the next run (:func:`roll_forward`) before it looks at anything else.
"""
from __future__ import annotations

import csv
import io
import json
import os
import shutil
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from mom_bench.core import provenance
from mom_bench.core.errors import SegmentError
from mom_bench.core.files import fsync_dir, write_atomic
from mom_bench.core.segments import TIME_EPS, Segment, check_segments, whole_file
from mom_bench.core.splits import SPLITS, RowStatus
from mom_bench.dataset import columns, lineage
from mom_bench.dataset import splitting as S
from mom_bench.dataset.build_report import (
    REPORT_SCHEMA_VERSION,
    BuildError,
    BuildResult,
    audio_fingerprint,
    fingerprint,
    label_fingerprint,
)
from mom_bench.dataset.card import render_card
from mom_bench.dataset.shortcut import metadata_shortcuts, shortcut_check
from mom_bench.dataset.staging import OPTIONAL, SCHEMA, fsync_write
from mom_bench.dataset.staging import dumps as staging_dumps

_ROW_GROUP_BYTES = 16 << 20
#: The build's row table: every processed row's journal record without its audio (identity, status,
#: statistics), so that a later run of the same command keeps the rows that did not change.
ROWS_NAME = ".mom-bench-rows.parquet"
ROWS_SCHEMA = pa.schema([f for f in SCHEMA if f.name != "audio_bytes"])
#: A finished build, in the order the swap puts it in place: the report last, as its presence marks a
#: finished build.
PUBLISHED = ("data", ROWS_NAME, "splits.csv", "README.md", "build_report.json")
#: Columns of the row table that builds made by an older mom-bench lack: their rows are kept, without them.
_LATER_COLUMNS = ("orig_bytes", "pcm16k_sha256", "pcm16k_print")


class _ShardWriter:
    """Rows of one split into ``<split>-NNNNN.parquet`` files of at most about ``shard_bytes``."""

    def __init__(self, folder: Path, split: str, schema: pa.Schema, shard_bytes: int):
        self.folder, self.split, self.schema, self.shard_bytes = folder, split, schema, shard_bytes
        self.rows: list[dict] = []
        self.buffered = 0
        self.writer: pq.ParquetWriter | None = None
        self.path: Path | None = None
        self.in_shard = 0
        self.files: list[dict] = []
        self.arrow_bytes = 0  # what datasets records as the split's num_bytes

    def add(self, row: dict, nbytes: int) -> None:
        if self.writer is not None and self.in_shard + nbytes > self.shard_bytes and self.in_shard > 0:
            self._flush()
            self._close()
        self.rows.append(row)
        self.buffered += nbytes
        self.in_shard += nbytes
        if self.buffered >= min(_ROW_GROUP_BYTES, self.shard_bytes):
            self._flush()

    def _flush(self) -> None:
        if not self.rows:
            return
        if self.writer is None:
            path = self.folder / f"{self.split}-{len(self.files):05d}.parquet"
            self.writer = pq.ParquetWriter(path, self.schema)
            self.path = path
            self.files.append({"file": f"data/{path.name}", "rows": 0})
        table = pa.Table.from_pylist(self.rows, schema=self.schema)
        self.writer.write_table(table)
        self.arrow_bytes += table.nbytes
        self.files[-1]["rows"] += len(self.rows)
        self.rows, self.buffered = [], 0

    def _close(self) -> None:
        if self.writer is not None and self.path is not None:
            self.writer.close()
            with open(self.path, "rb+") as fh:  # durable before the swap makes the report point at it
                os.fsync(fh.fileno())
            self.writer = None
            self.in_shard = 0

    def close(self) -> list[dict]:
        self._flush()
        self._close()
        return self.files


def finalize(protocol, out: Path, work: Path, staging, listed, options: dict, *, shard_bytes: int,
             keep_staging: bool, progress: bool, carried: dict[str, dict] | None = None,
             inputs: dict | None = None, dedup_against: list[Path] | None = None):
    """Write the build from the journal (and ``carried``: the previous build's records of rows that did not
    change, id -> record, whose audio is read from ``out/data``), then swap it in for the previous one.

    ``inputs`` (what the build was made from: the listing's digest, what changed since the previous build)
    goes into the report, with how many rows were made (from the journal) and how many kept. ``dedup_against``:
    the finished builds whose rows this one is compared with (:mod:`mom_bench.dataset.lineage`)."""
    carried = carried or {}
    staged, chosen = _select(staging, listed, carried, work)
    written, audit = _split_audit(protocol, staged, listed)
    meta_types, metas = _meta_types(written)
    has_segments = _settle_segments(written, meta_types)
    feats = columns.features(meta_types, None if options["keep_original"] else protocol.sample_rate,
                             segments=has_segments)
    final = {r["id"]: r for r in written}

    publish = work / "publish"
    if publish.exists():  # a finalisation that was interrupted: written again from the journal
        shutil.rmtree(publish)
    (publish / "data").mkdir(parents=True)
    rows = _audio_rows(out / "data", final, carried, staging, chosen)
    shards = _write_shards(publish / "data", rows, protocol, meta_types, metas, feats.arrow_schema, shard_bytes,
                           total=len(written), progress=progress)
    made = sum(1 for r in listed.rows if r.id in chosen)
    inputs = {**(inputs or {}), "rows_made": made, "rows_kept_from_previous_build": len(staged) - made}
    report = _report(protocol, options, staged, listed, written, audit, shards, inputs)
    if has_segments:
        report["segments"] = segment_summary(written, metas)
    if protocol.raw.get("base_build"):  # a build made from another build (splice): what it was made from
        report["base_build"] = protocol.raw["base_build"]
    report["overlap"] = _overlap(written, dedup_against or [])
    card = render_card(protocol, report, feats, split_bytes=shards.arrow_bytes)

    _write_rows(publish / ROWS_NAME, staged)
    fsync_write(publish / "splits.csv", _splits_csv(shards.order, final).encode("utf-8"))
    fsync_write(publish / "README.md", card.encode("utf-8"))
    fsync_write(publish / "build_report.json", json.dumps(report, indent=1, ensure_ascii=False).encode("utf-8"))
    os.replace(publish, work / "swap")  # the commit point: from here on the next run finishes the swap
    roll_forward(out, work, keep_staging=keep_staging)
    return BuildResult.from_report(out)


def _select(staging, listed, carried: dict[str, dict], work: Path) -> tuple[list[dict], dict[str, int]]:
    """Each listed row's record, in listing order: the latest journal record with the row's identity, else
    the previous build's. Also returns id -> position in the journal of the records taken from it."""
    journal = staging.read_small()
    chosen: dict[str, int] = {}
    for pos, rec in enumerate(journal):
        if rec["identity"] is not None and listed.identity.get(rec["id"]) == rec["identity"]:
            chosen[rec["id"]] = pos
    staged, lacking = [], []
    for row in listed.rows:
        if row.id in chosen:
            staged.append(journal[chosen[row.id]])
        elif row.id in carried:
            staged.append(dict(carried[row.id]))
        else:
            lacking.append(row.id)
    if lacking:
        raise BuildError(f"the journal in {work} lacks {len(lacking)} listed rows (first: {lacking[0]!r}); run the "
                         "same command again to process them")
    return staged, chosen


def _split_audit(protocol, staged: list[dict], listed) -> tuple[list[dict], dict]:
    """The written rows with their final split and group (duplicates joined), and the leakage audit."""
    for r in staged:
        r["group_id"] = r["group_key"]
        r["is_ood"] = listed.is_ood[r["id"]]
        r["split"] = listed.split_of[r["id"]]  # the listing is the authority; the journal only caches audio
    written = [r for r in staged if r["status"] == RowStatus.WRITTEN]
    changes, merged = S.merge_duplicates(written)
    for r in written:
        if r["id"] in changes:
            r["split"], r["group_id"] = changes[r["id"]]
    conflicts = [m["conflict"] for m in merged if m.get("conflict")]
    if conflicts:
        raise BuildError("split audit failed: " + "; ".join(conflicts[:10]))
    audit = S.audit_splits(written, set(protocol.ood_generators))
    audit["duplicates_merged"] = merged
    audit["rows_moved_by_duplicates"] = sum(len(m["moved"]) for m in merged)
    audit["preassigned_rows"] = sum(1 for r in staged if r["preassigned"])
    audit["rule"] = ("OOD fakes -> test_ood; other rows by sha256(salt, group key) over the protocol's weights; "
                     "groups with identical decoded audio are joined and take the split of their smallest group "
                     "key (test_ood when they hold an OOD fake)")
    if not audit["ok"]:
        failed = {k: audit[k] for k in ("ood_outside_test_ood", "groups_spanning_splits",
                                        "duplicate_audio_spanning_splits")}
        raise BuildError(f"leakage audit failed: {json.dumps(failed)[:2000]}")
    return written, audit


def _meta_types(written: list[dict]) -> tuple[dict, dict[str, dict]]:
    """Metadata columns and their types, from every written row; and each row's metadata."""
    kinds: dict[str, set] = defaultdict(set)
    metas = {}
    for r in written:
        meta = json.loads(r["meta_json"] or "{}")
        metas[r["id"]] = meta
        for k, v in meta.items():
            kinds[k].add(type(v))
    return columns.infer_meta_types(kinds), metas


def _settle_segments(written: list[dict], meta_types: dict) -> bool:
    """Whether the build has a ``segments`` column: yes when any written row came with segments. Then every
    row's ``segments_json`` is set to what the column will hold: its segments cut to the stored duration
    (``--max-seconds`` stores the start of a song), or one whole-file segment for a row that gave none; a
    source's segments that do not tile the audio it gave are a :class:`BuildError` naming the row."""
    if not any(r.get("segments_json") for r in written):
        return False
    if columns.SEGMENTS in {columns.meta_column_name(k) for k in meta_types}:
        raise BuildError(f"the source gives segments and also a metadata column {columns.SEGMENTS!r}; rename that "
                         "metadata column")
    for r in written:
        duration = float(r["duration_s"])
        if not r.get("segments_json"):
            segs = whole_file(duration, r["label"], r["generator"])
        else:
            raw = [tuple(s) for s in json.loads(r["segments_json"])]
            cut = [(a, min(b, duration), lab, gen) for a, b, lab, gen in raw if a < duration - TIME_EPS]
            try:
                segs = check_segments(cut, duration, where=f"row {r['id']!r}")
            except SegmentError as err:
                raise BuildError(f"the source's segments do not tile the stored audio: {err}") from None
            segs[-1] = segs[-1]._replace(end=duration)  # within rounding of it (checked): the stored end exactly
        r["segments_json"] = staging_dumps([list(s) for s in segs])
    return True


def segment_summary(written: list[dict], metas: dict[str, dict]) -> dict:
    """The report's ``segments`` block: per split the songs, those with AI segments, the AI share of the time;
    per split and ``pattern`` (a spliced build's metadata column) the number of songs."""
    out: dict[str, dict] = {}
    for r in written:
        segs = [Segment(*s) for s in json.loads(r["segments_json"])]
        entry = out.setdefault(r["split"], {"songs": 0, "songs_with_ai": 0, "seconds": 0.0, "ai_seconds": 0.0,
                                            "segments": 0, "patterns": {}})
        entry["songs"] += 1
        entry["songs_with_ai"] += int(any(s.label == 1 for s in segs))
        entry["segments"] += len(segs)
        entry["seconds"] += sum(s.end - s.start for s in segs)
        entry["ai_seconds"] += sum(s.end - s.start for s in segs if s.label == 1)
        pattern = metas.get(r["id"], {}).get("pattern")
        if pattern is not None:
            entry["patterns"][str(pattern)] = entry["patterns"].get(str(pattern), 0) + 1
    for entry in out.values():
        entry["ai_time_share"] = round(entry["ai_seconds"] / entry["seconds"], 6) if entry["seconds"] else 0.0
        entry["seconds"], entry["ai_seconds"] = round(entry["seconds"], 3), round(entry["ai_seconds"], 3)
        entry["patterns"] = dict(sorted(entry["patterns"].items()))
    return {s: out[s] for s in SPLITS if s in out}


def _audio_rows(old_data: Path, final: dict[str, dict], carried: dict[str, dict], staging,
                chosen: dict[str, int]) -> Iterator[tuple[dict, dict]]:
    """``(record, audio)`` of every written row: first the kept ones from the previous build's shards, in
    their order there, then the journal's, a row group at a time."""
    kept = {i for i in final if i in carried and i not in chosen}
    if kept:
        for shard in sorted(old_data.glob("*.parquet")):
            f = pq.ParquetFile(shard)
            for group in range(f.num_row_groups):
                for rec in f.read_row_group(group, columns=["id", "audio"]).to_pylist():
                    if rec["id"] in kept:
                        kept.discard(rec["id"])
                        yield final[rec["id"]], rec["audio"]
        if kept:
            raise BuildError(f"{old_data}: the previous build lacks the audio of {len(kept)} of its rows (first: "
                             f"{min(kept)!r}); rebuild with --overwrite")
    for pos, rec in enumerate(staging.iter_batches()):
        if chosen.get(rec["id"]) == pos and rec["id"] in final:
            yield final[rec["id"]], {"bytes": rec["audio_bytes"], "path": rec["audio_path"]}


class _Shards:
    def __init__(self, files: dict[str, list[dict]], order: dict[str, list[str]], arrow_bytes: dict[str, int]):
        self.files, self.order, self.arrow_bytes = files, order, arrow_bytes


def _write_shards(folder: Path, rows: Iterator[tuple[dict, dict]], protocol, meta_types: dict, metas: dict,
                  schema: pa.Schema, shard_bytes: int, *, total: int, progress: bool) -> _Shards:
    from tqdm.auto import tqdm

    gens = {g.id: g for g in protocol.generators}
    writers = {s: _ShardWriter(folder, s, schema, shard_bytes) for s in SPLITS}
    order: dict[str, list[str]] = {s: [] for s in SPLITS}
    bar = tqdm(total=total, desc="write shards", unit="song", disable=not progress, dynamic_ncols=True)
    for r, audio in rows:
        g = gens.get(r["generator"])
        row = {
            "id": r["id"], "audio": {"bytes": audio["bytes"], "path": audio["path"]},
            "label": r["label"], "label_name": "fake" if r["label"] == 1 else "real", "split": r["split"],
            "generator": r["generator"], "generator_name": g.name if g else "Real",
            "generator_family": g.family if g else "real", "is_ood": r["is_ood"], "source": r["source"],
            "group_id": r["group_id"], "duration_s": r["duration_s"], "orig_codec": r["orig_codec"],
            "orig_sample_rate": r["orig_sample_rate"], "orig_channels": r["orig_channels"],
            "orig_bit_rate": r["orig_bit_rate"], "orig_duration_s": r["orig_duration_s"],
            "content_sha256": r["content_sha256"],
            # absent from rows kept from a build made before these columns: no lineage data for them
            "orig_bytes": r.get("orig_bytes"), "pcm16k_sha256": r.get("pcm16k_sha256"),
            "pcm16k_print": r.get("pcm16k_print"),
        }
        if columns.SEGMENTS in schema.names:
            row[columns.SEGMENTS] = [{"start": a, "end": b, "label": lab, "generator": gen}
                                     for a, b, lab, gen in json.loads(r["segments_json"])]
        meta = metas[r["id"]]
        for k, t in meta_types.items():
            v = meta.get(k)
            if v is not None and t == pa.string() and not isinstance(v, str):
                v = json.dumps(v) if isinstance(v, (list, dict)) else str(v)
            row[columns.meta_column_name(k)] = v
        writers[r["split"]].add(row, len(audio["bytes"]) + 512)
        order[r["split"]].append(r["id"])
        bar.update(1)
    bar.close()
    files = {s: w.close() for s, w in writers.items()}
    return _Shards(files, order, {s: w.arrow_bytes for s, w in writers.items() if w.files})


def _report(protocol, options: dict, staged: list[dict], listed, written: list[dict], audit: dict,
            shards: _Shards, inputs: dict | None) -> dict:
    """The content of ``build_report.json``: counts, every row's status, audits, files."""
    final = {r["id"]: r for r in written}
    by_split: dict[str, dict[str, int]] = {s: {} for s in SPLITS}
    for r in written:
        by_split[r["split"]][r["generator"]] = by_split[r["split"]].get(r["generator"], 0) + 1
    by_split = {s: dict(sorted(g.items())) for s, g in by_split.items() if g}
    status = Counter(r["status"] for r in staged) + Counter(r["status"] for r in listed.rejected)
    reasons = Counter(f"{r['status']}: {r['reason']}" for r in list(staged) + listed.rejected
                      if r["status"] != RowStatus.WRITTEN)
    row_list = [{"id": r["id"], "source": r["source"], "generator": r["generator"], "label": r["label"],
                 "split": r["split"], "group_id": r["group_id"], "status": r["status"], "reason": r["reason"]}
                for r in staged] + listed.rejected
    return {
        "schema_version": REPORT_SCHEMA_VERSION,
        "benchmark": protocol.name,
        "benchmark_version": protocol.version,
        "fingerprint": fingerprint(written),
        "label_fingerprint": label_fingerprint(written),
        "audio_fingerprint": audio_fingerprint(written),
        "expected_audio_fingerprint": _expected_audio(protocol, options),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "mom_bench_version": provenance.mom_bench_version(),
        "split_mode": options["split_mode"],
        "options": options,
        "inputs": inputs or {},
        # with keep_original the audio column holds the input files: their own format, rate and channels
        "audio": {"sample_rate": protocol.sample_rate, "format": "original" if options["keep_original"] else "flac",
                  "channels": 1, "bits": 16,
                  "max_seconds": options["max_seconds"], "keep_original": options["keep_original"]},
        "clip_policy": protocol.clip_policy,
        # the decoder family travels with the build, so evaluate reports per family whatever protocol file
        # (shipped, edited or a user's) the build was made from
        "generators": [{"id": g.id, "name": g.name, "family": g.family, "role": g.role,
                        "decoder_family": g.decoder_family, **({"release": g.release} if g.release else {})}
                       for g in protocol.generators],
        "counts": {"rows": len(staged) + len(listed.rejected), "written": status[RowStatus.WRITTEN],
                   "missing": status[RowStatus.MISSING], "unusable": status[RowStatus.UNUSABLE],
                   "excluded": status[RowStatus.EXCLUDED],
                   "by_split": by_split,
                   "by_split_label": {s: dict(Counter("fake" if final[i]["label"] else "real" for i in ids))
                                      for s, ids in shards.order.items() if ids},
                   "reals_by_source": {s: dict(sorted(Counter(final[i]["source"] for i in ids
                                                              if not final[i]["label"]).items()))
                                       for s, ids in shards.order.items() if ids},
                   "real_groups_by_split": {s: len({final[i]["group_id"] for i in ids if not final[i]["label"]})
                                            for s, ids in shards.order.items() if ids},
                   "reasons": dict(reasons.most_common())},
        "leakage_audit": audit,
        "shortcut_check": _shortcut(written),
        "metadata_shortcuts": _metadata_shortcuts(written),
        "files": {s: f for s, f in shards.files.items() if f},
        "rows": row_list,
    }


def _expected_audio(protocol, options: dict) -> str | None:
    """The protocol's published audio fingerprint when this build was made with the protocol's own options
    (for other options the audio is meant to differ)."""
    own = (not options["source_options"] and options["limit"] is None and not options["keep_original"]
           and options["split_mode"] == "strict" and options["max_seconds"] in (None, protocol.max_seconds))
    return protocol.raw.get("audio_fingerprint") if own else None


def _splits_csv(order: dict[str, list[str]], final: dict[str, dict]) -> str:
    text = io.StringIO()
    w = csv.writer(text, lineterminator="\n")
    w.writerow(["id", "split", "group_id"])
    for s in SPLITS:
        for i in order[s]:
            w.writerow([i, s, final[i]["group_id"]])
    return text.getvalue()


def _write_rows(path: Path, staged: list[dict]) -> None:
    table = pa.Table.from_pylist([{k: r.get(k) for k in ROWS_SCHEMA.names} for r in staged], schema=ROWS_SCHEMA)
    write_atomic(path, lambda tmp: pq.write_table(table, tmp))


def read_rows(out: Path) -> dict[str, dict] | None:
    """The row table of the finished build in ``out`` (id -> record), or None when it has none that can
    be read (a build made before there was one, or a damaged file)."""
    try:
        table = pq.read_table(out / ROWS_NAME)
    except (OSError, pa.ArrowException):
        return None
    later = set(OPTIONAL) | set(_LATER_COLUMNS)
    if set(ROWS_SCHEMA.names) - set(table.column_names) - later:
        return None
    return {r["id"]: {**dict.fromkeys(later), **r} for r in table.to_pylist()}


# --------------------------------------------------------------------------------------------------
# the swap


def roll_forward(out: Path, work: Path, *, keep_staging: bool = False) -> None:
    """Move the committed build in ``work/swap`` into ``out`` (each previous entry aside into ``work/old``
    first, the report last), then remove the journal. Safe to run again after a crash at any point."""
    swap, old = work / "swap", work / "old"
    old.mkdir(exist_ok=True)
    for name in PUBLISHED:
        new = swap / name
        if not os.path.lexists(new):  # already moved by an earlier, interrupted, swap
            continue
        current, aside = out / name, old / name
        if os.path.lexists(current):
            if os.path.lexists(aside):
                _remove(aside)
            os.replace(current, aside)
        os.replace(new, current)
    fsync_dir(out)
    remove_journal(work, keep=("staging",) if keep_staging else ())


def remove_journal(work: Path, keep: tuple[str, ...] = ()) -> None:
    """Delete the journal folder ``work``, its ``options.json`` last, so that an interrupted deletion
    still leaves a folder recognised as an unfinished build; the entries named in ``keep`` stay."""
    if not work.is_dir():
        return
    # the committed build goes second to last: while it is there, the next run takes the swap as done
    for child in sorted(work.iterdir(), key=lambda c: c.name == "swap"):
        if child.name not in keep and child.name != "options.json":
            _remove(child)
    (work / "options.json").unlink(missing_ok=True)
    if not keep:
        work.rmdir()


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


def _shortcut(written: list[dict]) -> dict:
    """The format-level shortcut audit (mom_bench.dataset.shortcut) over every written row."""
    rows = [r for r in written if r.get("stats_json")]
    if not rows:
        return {"skipped": "no written rows with statistics"}
    try:

        return shortcut_check([json.loads(r["stats_json"]) for r in rows], [int(r["label"]) for r in rows],
                              [r["split"] for r in rows])
    except (ValueError, ArithmeticError) as err:  # sklearn refusing the data (one class, NaN): reported, build goes on
        return {"error": f"{type(err).__name__}: {err}"}


def _metadata_shortcuts(written: list[dict]) -> dict:
    """Input files and ids that tell a generator from the reals (mom_bench.dataset.shortcut.metadata_shortcuts)."""
    try:
        return metadata_shortcuts(written)
    except (ValueError, ArithmeticError) as err:  # reported, build goes on
        return {"error": f"{type(err).__name__}: {err}"}


def _overlap(written: list[dict], others: list[Path]) -> list[dict]:
    """Per other build, the rows of this one it holds too (exact and near), for build_report.json."""
    mine = lineage.Rows.from_records("this build", written)
    found = []
    for folder in others:
        try:
            theirs = lineage.read_build(folder, _build_name(folder))
        except (OSError, pa.ArrowException, ValueError) as err:
            found.append({"build": folder.name, "folder": str(folder), "exact": 0, "near": 0, "near_checked": False,
                          "exact_ids": {}, "near_ids": {}, "error": f"{type(err).__name__}: {err}"})
            continue
        found.append(lineage.overlap(mine, theirs).to_json(str(folder)))
    return found


def _build_name(folder: Path) -> str:
    """``<benchmark> <version>`` of a build, from its report (the folder's name when it cannot be read)."""
    try:
        rep = json.loads((folder / "build_report.json").read_text(encoding="utf-8"))
        return f"{rep['benchmark']} {rep['benchmark_version']}"
    except (OSError, ValueError, KeyError, TypeError):
        return folder.name
