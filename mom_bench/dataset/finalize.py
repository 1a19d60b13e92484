"""Phase 2 of a build: from the staging journal to the published folder.

Nothing here decodes audio. The rows' small columns are read into memory (a few hundred bytes a row);
the audio is streamed from the journal into the output shards a row group at a time.
"""
from __future__ import annotations

import csv
import io
import json
import shutil
import time
from collections import Counter, defaultdict
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from mom_bench import provenance
from mom_bench.dataset import columns, splits as S
from mom_bench.dataset.card import render_card
from mom_bench.dataset.shortcut import shortcut_check
from mom_bench.dataset.report import REPORT_SCHEMA_VERSION, BuildError, BuildResult, fingerprint
from mom_bench.dataset.staging import fsync_write

_ROW_GROUP_BYTES = 16 << 20


class _ShardWriter:
    """Rows of one split into ``<split>-NNNNN.parquet`` files of at most about ``shard_bytes``."""

    def __init__(self, folder: Path, split: str, schema: pa.Schema, shard_bytes: int):
        self.folder, self.split, self.schema, self.shard_bytes = folder, split, schema, shard_bytes
        self.rows: list[dict] = []
        self.buffered = 0
        self.writer: pq.ParquetWriter | None = None
        self.in_shard = 0
        self.files: list[dict] = []

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
            self.files.append({"file": f"data/{path.name}", "rows": 0})
        self.writer.write_table(pa.Table.from_pylist(self.rows, schema=self.schema))
        self.files[-1]["rows"] += len(self.rows)
        self.rows, self.buffered = [], 0

    def _close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
            self.in_shard = 0

    def close(self) -> list[dict]:
        self._flush()
        self._close()
        return self.files


def finalize(protocol, out: Path, work: Path, staging, listed, options: dict, *, shard_bytes: int,
             keep_staging: bool, progress: bool):
    gens = {g.id: g for g in protocol.generators}
    listed_ids = {r.id for r in listed.rows}
    staged = [r for r in staging.read_small() if r["id"] in listed_ids]
    staged_ids = {r["id"] for r in staged}
    if staged_ids != listed_ids or len(staged) != len(staged_ids):
        raise BuildError(f"the journal in {work} does not match the source listing "
                         f"({len(listed_ids - staged_ids)} rows not processed); run again with --resume")

    for r in staged:
        r["group_id"] = r["group_key"]
        r["is_ood"] = listed.is_ood[r["id"]]
        r["split"] = listed.split_of[r["id"]]  # the listing is the authority; the journal only caches audio
    written = [r for r in staged if r["status"] == "written"]
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
        raise BuildError(f"leakage audit failed: {json.dumps({k: audit[k] for k in ('ood_outside_test_ood', 'groups_spanning_splits', 'duplicate_audio_spanning_splits')})[:2000]}")

    # Metadata columns and their types, from every written row.
    kinds: dict[str, set] = defaultdict(set)
    metas = {}
    for r in written:
        meta = json.loads(r["meta_json"] or "{}")
        metas[r["id"]] = meta
        for k, v in meta.items():
            kinds[k].add(type(v))
    meta_types = columns.infer_meta_types(kinds)
    feats = columns.features(meta_types)
    schema = feats.arrow_schema
    final = {r["id"]: r for r in written}

    tmp_data = work / "data"
    if tmp_data.exists():
        shutil.rmtree(tmp_data)
    tmp_data.mkdir(parents=True)
    writers = {s: _ShardWriter(tmp_data, s, schema, shard_bytes) for s in S.SPLITS}
    order: dict[str, list[str]] = {s: [] for s in S.SPLITS}
    from tqdm.auto import tqdm

    bar = tqdm(total=len(written), desc="write shards", unit="song", disable=not progress, dynamic_ncols=True)
    for rec in staging.iter_batches():
        r = final.get(rec["id"])
        if r is None or rec["status"] != "written":
            continue
        g = gens.get(r["generator"])
        row = {
            "id": r["id"], "audio": {"bytes": rec["audio_bytes"], "path": rec["audio_path"]},
            "label": r["label"], "label_name": "fake" if r["label"] == 1 else "real", "split": r["split"],
            "generator": r["generator"], "generator_name": g.name if g else "Real",
            "generator_family": g.family if g else "real", "is_ood": r["is_ood"], "source": r["source"],
            "group_id": r["group_id"], "duration_s": r["duration_s"], "orig_codec": r["orig_codec"],
            "orig_sample_rate": r["orig_sample_rate"], "orig_channels": r["orig_channels"],
            "orig_bit_rate": r["orig_bit_rate"], "orig_duration_s": r["orig_duration_s"],
            "content_sha256": r["content_sha256"],
        }
        meta = metas[r["id"]]
        for k, t in meta_types.items():
            v = meta.get(k)
            if v is not None and t == pa.string() and not isinstance(v, str):
                v = json.dumps(v) if isinstance(v, (list, dict)) else str(v)
            row[columns.meta_column_name(k)] = v
        writers[r["split"]].add(row, len(rec["audio_bytes"]) + 512)
        order[r["split"]].append(r["id"])
        bar.update(1)
    bar.close()
    files = {s: w.close() for s, w in writers.items()}

    # Counts and per-row statuses.
    by_split: dict[str, dict[str, int]] = {s: {} for s in S.SPLITS}
    for r in written:
        by_split[r["split"]][r["generator"]] = by_split[r["split"]].get(r["generator"], 0) + 1
    by_split = {s: dict(sorted(g.items())) for s, g in by_split.items() if g}
    status = Counter(r["status"] for r in staged) + Counter(r["status"] for r in listed.rejected)
    reasons = Counter(f"{r['status']}: {r['reason']}" for r in list(staged) + listed.rejected
                      if r["status"] != "written")
    row_list = [{"id": r["id"], "source": r["source"], "generator": r["generator"], "label": r["label"],
                 "split": r["split"], "group_id": r["group_id"], "status": r["status"], "reason": r["reason"]}
                for r in staged] + listed.rejected

    shortcut = _shortcut(written)
    fp = fingerprint(written)
    n_rows = len(staged) + len(listed.rejected)
    report = {
        "schema_version": REPORT_SCHEMA_VERSION,
        "benchmark": protocol.name,
        "benchmark_version": protocol.version,
        "fingerprint": fp,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "mom_bench_version": provenance.mom_bench_version(),
        "split_mode": options["split_mode"],
        "options": options,
        "audio": {"sample_rate": protocol.sample_rate, "format": "flac", "channels": 1, "bits": 16,
                  "max_seconds": options["max_seconds"], "keep_original": options["keep_original"]},
        "clip_policy": protocol.clip_policy,
        "generators": [{"id": g.id, "name": g.name, "family": g.family, "role": g.role} for g in protocol.generators],
        "counts": {"rows": n_rows, "written": status["written"], "missing": status["missing"],
                   "unusable": status["unusable"], "excluded": status["excluded"], "by_split": by_split,
                   "by_split_label": {s: dict(Counter("fake" if final[i]["label"] else "real" for i in ids))
                                      for s, ids in order.items() if ids},
                   "reasons": dict(reasons.most_common())},
        "leakage_audit": audit,
        "shortcut_check": shortcut,
        "files": {s: f for s, f in files.items() if f},
        "rows": row_list,
    }

    splits_csv = io.StringIO()
    w = csv.writer(splits_csv, lineterminator="\n")
    w.writerow(["id", "split", "group_id"])
    for s in S.SPLITS:
        for i in order[s]:
            w.writerow([i, s, final[i]["group_id"]])

    card = render_card(protocol, report, feats)

    # Publish: data first, the report last (its presence marks a finished build), then drop the journal.
    data = out / "data"
    if data.exists():
        old = work / "data.old"
        if old.exists():
            shutil.rmtree(old)
        data.rename(old)
    tmp_data.rename(data)
    fsync_write(out / "splits.csv", splits_csv.getvalue().encode("utf-8"))
    fsync_write(out / "README.md", card.encode("utf-8"))
    fsync_write(out / "build_report.json", json.dumps(report, indent=1, ensure_ascii=False).encode("utf-8"))
    if not keep_staging:
        shutil.rmtree(work)
    else:
        shutil.rmtree(work / "data.old", ignore_errors=True)
    return BuildResult(out, protocol.name, protocol.version, fp, by_split, n_rows, status["written"],
                       status["missing"], status["unusable"], out / "build_report.json", shortcut,
                       status["excluded"], dict(reasons.most_common()))


def _shortcut(written: list[dict]) -> dict:
    """The format-level shortcut audit (mom_bench.dataset.shortcut) over every written row."""
    rows = [r for r in written if r.get("stats_json")]
    if not rows:
        return {"skipped": "no written rows with statistics"}
    try:

        return shortcut_check([json.loads(r["stats_json"]) for r in rows], [int(r["label"]) for r in rows],
                              [r["split"] for r in rows])
    except Exception as err:  # an audit that cannot run is reported, it does not sink the build
        return {"error": f"{type(err).__name__}: {err}"}
