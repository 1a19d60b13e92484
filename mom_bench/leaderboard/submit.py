"""Turn a predictions file plus its metadata into a scored leaderboard entry.

A submission is untrusted data from a stranger. Nothing in it is executed: CSV is parsed by pandas,
Parquet by pyarrow, metadata by ``yaml.safe_load``/``json``; pickles and archives are refused by their
magic bytes before any parser sees them, sizes are checked before reading, and the entry's file name is
sanitised and then proven to stay inside ``entries/<benchmark>/``. Every problem found is collected, so the
submitter sees the whole list at once instead of fixing one error per attempt.

Labels never come from the submission: they are read from the built dataset, whose benchmark version and
fingerprint must match what the submission claims.
"""
from __future__ import annotations

import csv
import datetime as _dt
import hashlib
import io
import json
import math
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mom_bench import __version__
from mom_bench.leaderboard import schema

TEST_SPLITS = ("test_id", "test_ood")
PREDICTION_FORMATS = {".csv": "csv", ".parquet": "parquet"}
META_FORMATS = {".json", ".yaml", ".yml"}
_EXAMPLES = 5  # ids quoted per problem; the count says how many there are in all
_ROW_PROBLEMS = 10  # bad-score rows listed one by one before summarising


@dataclass(frozen=True)
class Limits:
    """Refuse files larger than these before parsing them (a MoM test set is ~40k rows, ~2 MB of CSV)."""

    predictions_bytes: int = 64 * 1024 * 1024
    meta_bytes: int = 64 * 1024
    rows: int = 2_000_000


class SubmissionRejected(ValueError):
    """A submission with problems; ``problems`` holds one line per problem."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__(f"submission rejected ({len(self.problems)} problem"
                         f"{'s' if len(self.problems) != 1 else ''}):\n" + "\n".join(f"  - {p}" for p in problems))


# --------------------------------------------------------------------------------------------------
# reading the files


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _sniff(head: bytes) -> str | None:
    """Name the kind of binary file that must never reach a parser, if ``head`` looks like one."""
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return f"a Python pickle (magic bytes 80 {head[1]:02x})"
    if head.startswith(b"PK\x03\x04"):
        return "a zip archive (torch.save / numpy .npz files are zips)"
    if head.startswith(b"\x93NUMPY"):
        return "a numpy .npy array"
    if head.startswith(b"\x1f\x8b"):
        return "a gzip file (submit the CSV uncompressed)"
    return None


def load_predictions(path: Path | str, limits: Limits = Limits()) -> tuple[pd.DataFrame | None, dict, list[str]]:
    """Read ``id``, ``score`` from a CSV or Parquet file without trusting it.

    Returns ``(frame, info, problems)``; ``frame`` is None when the file cannot be read at all. The frame
    keeps the file's row order and every row (duplicates and bad scores are judged later, with labels).
    ``score`` is float64 with NaN where the text was not a number; ``info['raw_score']`` keeps the text.
    """
    path = Path(path)
    name = path.name
    info: dict[str, Any] = {"file": name}
    if not path.is_file():
        return None, info, [f"predictions {name}: file not found"]
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(16)
    kind = _sniff(head)
    if kind:
        return None, info, [f"predictions {name}: the file is {kind}; only CSV or Parquet is accepted, "
                            "and pickles are never loaded"]
    suffix = path.suffix.lower()
    if suffix in {".pkl", ".pickle", ".pt", ".pth", ".joblib", ".npy", ".npz", ".bin"}:
        return None, info, [f"predictions {name}: {suffix} files are not accepted (pickles are never loaded); "
                            "write a CSV or Parquet file with columns id,score"]
    fmt = PREDICTION_FORMATS.get(suffix)
    if fmt is None:
        return None, info, [f"predictions {name}: unknown extension {suffix or '(none)'!r}; use .csv or .parquet"]
    info["format"] = fmt
    if size > limits.predictions_bytes:
        return None, info, [f"predictions {name}: {size:,} bytes is over the limit of "
                            f"{limits.predictions_bytes:,} bytes"]
    if size == 0:
        return None, info, [f"predictions {name}: the file is empty"]
    info["sha256"] = sha256_file(path)
    try:
        frame, ignored = (_read_csv if fmt == "csv" else _read_parquet)(path, limits)
    except _Unreadable as err:
        return None, info, [f"predictions {name}: {err}"]
    info["ignored_columns"] = ignored
    if len(frame) > limits.rows:
        return None, info, [f"predictions {name}: {len(frame):,} rows is over the limit of {limits.rows:,}"]
    if len(frame) == 0:
        return None, info, [f"predictions {name}: no rows"]
    return frame, info, []


class _Unreadable(Exception):
    pass


def _columns(found: list[str]) -> list[str]:
    missing = [c for c in ("id", "score") if c not in found]
    if missing:
        raise _Unreadable(f"missing column(s) {', '.join(missing)} (found: {', '.join(map(str, found)) or 'none'}); "
                          "the header must name id and score")
    dupes = sorted({c for c in found if found.count(c) > 1})
    if dupes:
        raise _Unreadable(f"column(s) {', '.join(dupes)} appear more than once in the header")
    return [c for c in found if c not in ("id", "score")]


def _read_csv(path: Path, limits: Limits) -> tuple[pd.DataFrame, list[str]]:
    raw = path.read_bytes()
    if b"\x00" in raw:
        raise _Unreadable("malformed CSV: it contains NUL bytes (is it a binary file?)")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise _Unreadable(f"malformed CSV: not UTF-8 text (byte {err.start})") from None
    # The csv module rather than pandas: pandas quietly turns extra leading fields into an index, and a
    # row-by-row read lets a ragged line be named. Everything stays text here, so ids like "007" survive
    # and bad scores are reported by line below.
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = [h.strip() for h in next(reader, [])]
        ignored = _columns(header)
        i_id, i_score = header.index("id"), header.index("score")
        ids, raws, lines, ragged = [], [], [], []
        for fields in reader:
            line = reader.line_num
            if not fields:  # blank line
                continue
            if len(fields) != len(header):
                ragged.append(f"line {line} has {len(fields)} fields, the header {len(header)}")
                continue
            ids.append(fields[i_id].strip())
            raws.append(fields[i_score].strip())
            lines.append(line)
    except csv.Error as err:
        raise _Unreadable(f"malformed CSV at line {reader.line_num}: {err}") from None
    if ragged:
        more = f" (and {len(ragged) - 3} more such lines)" if len(ragged) > 3 else ""
        raise _Unreadable("malformed CSV: " + "; ".join(ragged[:3]) + more)
    out = pd.DataFrame({"id": ids, "raw_score": raws, "line": lines})
    out["score"] = pd.to_numeric(out["raw_score"], errors="coerce").astype("float64")
    return out, ignored


def _read_parquet(path: Path, limits: Limits) -> tuple[pd.DataFrame, list[str]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    with open(path, "rb") as fh:
        start = fh.read(4)
        fh.seek(-4, os.SEEK_END)
        end = fh.read(4)
    if start != b"PAR1" or end != b"PAR1":
        raise _Unreadable("malformed Parquet: missing the PAR1 magic bytes")
    try:
        pf = pq.ParquetFile(path)
        ignored = _columns(list(pf.schema_arrow.names))
        if pf.metadata.num_rows > limits.rows:  # judged from the footer, before reading any data
            raise _Unreadable(f"{pf.metadata.num_rows:,} rows is over the limit of {limits.rows:,}")
        table = pf.read(columns=["id", "score"])
    except _Unreadable:
        raise
    except (pa.ArrowException, OSError, ValueError) as err:
        raise _Unreadable(f"malformed Parquet: {err}") from None
    ids, scores = table.column("id"), table.column("score")
    if not (pa.types.is_string(ids.type) or pa.types.is_large_string(ids.type) or pa.types.is_integer(ids.type)):
        raise _Unreadable(f"column id must hold strings, found {ids.type}")
    if not (pa.types.is_floating(scores.type) or pa.types.is_integer(scores.type)):
        raise _Unreadable(f"column score must hold numbers, found {scores.type}")
    id_list = [None if v is None else str(v) for v in ids.to_pylist()]
    score_list = scores.to_pylist()
    out = pd.DataFrame({"id": id_list,
                        "raw_score": ["" if v is None else repr(v) for v in score_list],
                        "score": np.array([np.nan if v is None else v for v in score_list], dtype="float64")})
    out["line"] = np.arange(len(out))  # Parquet rows are 0-based
    return out, ignored


def load_meta(source: Path | str | dict, limits: Limits = Limits()) -> tuple[dict | None, list[str]]:
    """Read submission metadata (YAML/JSON file, or a dict) and check it against ``SUBMISSION_META``.

    A baselines/ recipe file can be passed as it is: its ``submission_meta`` section is used.
    """
    if isinstance(source, dict):
        data, label = dict(source), "meta"
    else:
        path = Path(source)
        label = f"meta {path.name}"
        if not path.is_file():
            return None, [f"{label}: file not found"]
        if path.suffix.lower() not in META_FORMATS:
            return None, [f"{label}: unknown extension {path.suffix or '(none)'!r}; use .yaml, .yml or .json"]
        size = path.stat().st_size
        if size > limits.meta_bytes:
            return None, [f"{label}: {size:,} bytes is over the limit of {limits.meta_bytes:,} bytes"]
        raw = path.read_bytes()
        kind = _sniff(raw[:16])
        if kind:
            return None, [f"{label}: the file is {kind}, not YAML or JSON"]
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as err:
            return None, [f"{label}: not UTF-8 text (byte {err.start})"]
        try:
            if path.suffix.lower() == ".json":
                data = json.loads(text, parse_constant=_no_constant)
            else:
                import yaml

                data = yaml.safe_load(text)
        except json.JSONDecodeError as err:
            return None, [f"{label}: malformed JSON at line {err.lineno} column {err.colno}: {err.msg}"]
        except ValueError as err:
            return None, [f"{label}: malformed JSON: {err}"]
        except Exception as err:  # yaml.YAMLError and its subclasses, incl. refused python tags
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            return None, [f"{label}: malformed YAML: {first}"]
        if isinstance(data, dict) and isinstance(data.get("submission_meta"), dict):
            data = data["submission_meta"]
    if not isinstance(data, dict):
        return None, [f"{label}: expected a mapping of fields, got {type(data).__name__}"]
    data = _plain(data)
    problems = [f"{label}: {p.lstrip('/') or 'document'}" for p in schema.validate(data, schema.SUBMISSION_META)]
    return data, problems


def _no_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


def _plain(value: Any) -> Any:
    """YAML turns ``2026-01-31`` into a date object: make it the ISO string the schema expects."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, (_dt.date, _dt.datetime)):
        return value.isoformat()[:10]
    return value


# --------------------------------------------------------------------------------------------------
# names and places


def slugify(name: str) -> str:
    """``"CLAM (mini) v2"`` -> ``"clam-mini-v2"``: only [a-z0-9-], so a name can never form a path."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return slug[:64].strip("-")


def entries_dir(root: Path | str, benchmark: str) -> Path:
    if not re.fullmatch(schema.SLUG_PATTERN, benchmark or ""):
        raise ValueError(f"benchmark name {benchmark!r} is not a plain name")
    return Path(root) / "entries" / benchmark


def entry_path(root: Path | str, benchmark: str, slug: str) -> Path:
    """Where an entry lives; refuses any slug that is not a plain name or would leave the folder."""
    if not re.fullmatch(schema.SLUG_PATTERN, slug or ""):
        raise ValueError(f"slug {slug!r} is not allowed: use 1-64 characters from [a-z0-9-], "
                         "starting and ending with a letter or digit")
    folder = entries_dir(root, benchmark).resolve()
    path = (folder / f"{slug}.json").resolve()
    if path.parent != folder:
        raise ValueError(f"slug {slug!r} would write outside {folder}")
    return path


# --------------------------------------------------------------------------------------------------
# checking against the dataset


def dataset_labels(data_dir: Path | str, splits=TEST_SPLITS) -> pd.DataFrame:
    """``id, split, generator, label`` of every row of the test splits a built benchmark has, plus the
    stratum columns ``evaluate`` passes to the metrics (``duration_s``, vocals, language) where the build
    has them: the report then has the same strata, and the same bootstrap draws, as ``evaluate``'s."""
    import pyarrow.parquet as pq

    from mom_bench.build.read import read_info, read_table, shards

    base = ["id", "split", "generator", "label"]
    present = [s for s in splits if s in read_info(data_dir)["splits"]]
    frames = []
    for split in present:
        names = pq.ParquetFile(shards(data_dir, split)[0]).schema_arrow.names
        extra = {"duration_s": "duration_s" if "duration_s" in names else None}
        extra.update({key: next((c for c in candidates if c in names), None)
                      for key, candidates in _stratum_columns().items()})
        columns = ["id", "generator", "label"] + [c for c in extra.values() if c]
        table = read_table(data_dir, split, columns).rename(columns={c: k for k, c in extra.items() if c})
        table.insert(1, "split", split)
        frames.append(table)
    if not frames:
        return pd.DataFrame({c: [] for c in base})
    labels = pd.concat(frames, ignore_index=True)
    labels["id"] = labels["id"].astype(str)
    labels["label"] = labels["label"].astype(int)
    return labels


def _stratum_columns() -> dict[str, tuple[str, ...]]:
    """Optional stratum columns and the dataset column names they may have: evaluate's table, so both
    score the same rows with the same columns."""
    from mom_bench.evaluate import STRATA_COLUMNS

    return dict(STRATA_COLUMNS)


def check_predictions(pred: pd.DataFrame, labels: pd.DataFrame, where: str, pid: str = "line") -> list[str]:
    """Every id present exactly once, nothing unknown, every score finite in [0, 1].

    ``pid`` names how rows are counted in messages: CSV "line" (header = line 1), Parquet "row" (from 0).
    """
    problems = []
    empty = pred["id"].isna() | (pred["id"].astype(str) == "")
    if empty.any():
        problems.append(f"{where}: {int(empty.sum())} row(s) with an empty id ({pid}s "
                        f"{_quote(pred.loc[empty, 'line'].tolist())})")
    ids = pred.loc[~empty, "id"].astype(str)
    counts = ids.value_counts()
    dupes = counts[counts > 1]
    if len(dupes):
        problems.append(f"{where}: {len(dupes)} id(s) appear more than once (e.g. "
                        f"{_quote([f'{i} x{n}' for i, n in dupes.sort_index().items()])})")
    known = set(labels["id"])
    unknown = sorted(set(ids) - known)
    if unknown:
        problems.append(f"{where}: {len(unknown)} id(s) are not in the test splits of this dataset (e.g. "
                        f"{_quote(unknown)})")
    missing = sorted(known - set(ids))
    if missing:
        problems.append(f"{where}: {len(missing)} test id(s) have no prediction (e.g. {_quote(missing)})")
    values = pred["score"].to_numpy()
    suspect = pred[~(np.isfinite(values) & (values >= 0.0) & (values <= 1.0))]
    bad = []
    for line, ident, raw, score in suspect[["line", "id", "raw_score", "score"]].itertuples(index=False):
        if math.isnan(score):
            reason = "is NaN" if raw.strip().lower() in {"nan", "-nan", "+nan"} else (
                "is empty" if raw == "" else f"{raw[:20]!r} is not a number")
        elif math.isinf(score):
            reason = f"is infinite ({raw[:20]})"
        elif not 0.0 <= score <= 1.0:
            reason = f"{raw[:20]} is outside [0, 1] (scores are P(fake))"
        else:
            continue
        bad.append(f"{where} {pid} {line} (id {str(ident)[:40]!r}): score {reason}")
    problems += bad[:_ROW_PROBLEMS]
    if len(bad) > _ROW_PROBLEMS:
        problems.append(f"{where}: ... and {len(bad) - _ROW_PROBLEMS} more row(s) with a bad score")
    return problems


def _quote(items: list) -> str:
    shown = ", ".join(str(i)[:40] for i in items[:_EXAMPLES])
    return shown + (", ..." if len(items) > _EXAMPLES else "")


# --------------------------------------------------------------------------------------------------
# scoring and writing


def score(pred: pd.DataFrame, labels: pd.DataFrame, *, threshold=0.5, n_bootstrap=1000, seed=0) -> dict:
    """Score checked predictions with the same metrics module as ``mom-bench evaluate``."""
    from mom_bench.metrics import compute_report

    # Rows stay in the dataset's stored order (test_id, then test_ood), the order `evaluate` scores them
    # in: the bootstrap of AUC/EER draws rows by position, so the same order gives the same intervals.
    df = labels.merge(pred[["id", "score"]], on="id", how="left", validate="one_to_one")
    front = ["id", "split", "generator", "label", "score"]
    df = df[front + [c for c in df.columns if c not in front]]
    report = compute_report(df, threshold=threshold, n_bootstrap=n_bootstrap, seed=seed)
    pooled = compute_report(df.assign(split="test"), threshold=threshold, n_bootstrap=n_bootstrap, seed=seed)
    return {"report": _jsonable(report), "report_all_tests": _jsonable(pooled)}


def summarise(report: dict, pooled: dict) -> dict:
    """The renderer's view of a reproduced entry: the same keys a reported entry fills by hand."""
    splits = report.get("splits", report)
    all_tests = pooled.get("splits", pooled).get("test", {})
    overall = all_tests.get("overall", {})

    def metric(src: dict, key: str):
        m = src.get(key)
        if not isinstance(m, dict) or "value" not in m:
            return None
        return {"value": m["value"], "ci": m.get("ci")}

    def split_f1(name):
        s = splits.get(name)
        return metric(s.get("overall", {}), "f1") if isinstance(s, dict) else None

    # A generator's fakes usually sit in one test split (ID generators in test_id, held-out ones in
    # test_ood): its F1 is then taken against that split's reals, the same number `evaluate` prints.
    # Only a generator present in several splits falls back to the pooled report.
    homes: dict[str, list[dict]] = {}
    for name in sorted(splits):
        for gen, m in (splits[name].get("per_generator") or {}).items():
            homes.setdefault(gen, []).append(m)
    pooled_gen = all_tests.get("per_generator") or {}
    per_gen = {}
    for gen in sorted(homes):
        m = homes[gen][0] if len(homes[gen]) == 1 else pooled_gen.get(gen, {})
        row = {"f1": metric(m, "f1"), "tpr": metric(m, "tpr"), "n_fake": m.get("n_fake"), "n_real": m.get("n_real")}
        per_gen[gen] = {k: v for k, v in row.items() if v is not None}
    summary = {"f1": metric(overall, "f1"), "f1_id": split_f1("test_id"), "f1_ood": split_f1("test_ood")}
    for key in ("precision", "recall", "specificity", "accuracy", "auc", "eer"):
        summary[key] = metric(overall, key)
    summary["per_generator"] = per_gen
    return summary


def _jsonable(value: Any) -> Any:
    """numpy scalars -> Python numbers, NaN/inf -> None, tuples -> lists (JSON has no NaN)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json_atomic(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.chmod(tmp, 0o644)  # mkstemp makes it private; entries are public files
    os.replace(tmp, path)


def stored_predictions_text(pred: pd.DataFrame) -> str:
    """The id,score table kept beside an entry so ``leaderboard validate`` can re-score it."""
    ordered = pred[["id", "score"]].sort_values("id", kind="stable")
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["id", "score"])
    for ident, value in ordered.itertuples(index=False):
        writer.writerow([ident, repr(float(value))])
    return buf.getvalue()


def submit(predictions: Path | str, meta: Path | str | dict, benchmark: str, data_dir: Path | str | None = None,
           root: Path | str = "leaderboard", *, replace: bool = False, store_predictions: bool = True,
           limits: Limits = Limits(), n_bootstrap: int = 1000, seed: int = 0, today: str | None = None,
           expect_fingerprint: str | None = None) -> Path:
    """Validate, score and write ``<root>/entries/<benchmark>/<slug>.json``; returns its path.

    Raises ``SubmissionRejected`` listing every problem when anything is wrong; nothing is written then.
    """
    from mom_bench import protocols, settings

    problems: list[str] = []
    meta_data, meta_problems = load_meta(meta, limits)
    problems += meta_problems
    pred, pinfo, pred_problems = load_predictions(predictions, limits)
    problems += pred_problems

    protocol = None
    try:
        protocol = protocols.load(benchmark)
        if protocol.name != benchmark:
            raise ValueError(f"benchmark {benchmark!r} must be a shipped benchmark name")
    except Exception as err:
        problems.append(f"benchmark: {err}")

    info, labels = None, None
    data_dir = Path(data_dir) if data_dir else settings.default_dataset_dir(benchmark)
    if protocol is not None:
        try:
            from mom_bench.build.read import read_info

            info = read_info(data_dir)
        except Exception as err:
            problems.append(f"dataset {data_dir}: {err}")
    if info is not None:
        if info.get("benchmark") != benchmark:
            problems.append(f"dataset {data_dir}: it is a build of {info.get('benchmark')!r}, not {benchmark!r}")
        elif str(info.get("benchmark_version")) != protocol.version:
            problems.append(f"dataset {data_dir}: built for {benchmark} version {info.get('benchmark_version')}, "
                            f"but this mom-bench defines version {protocol.version}: rebuild it")
        else:
            labels = dataset_labels(data_dir)
            if labels.empty:
                problems.append(f"dataset {data_dir}: no test rows (splits {', '.join(TEST_SPLITS)})")
                labels = None
    if meta_data is not None and info is not None:
        claimed = meta_data.get("benchmark_version")
        if claimed is not None and str(claimed) != str(info.get("benchmark_version")):
            problems.append(f"meta: benchmark_version {claimed!r} does not match the dataset's "
                            f"{info.get('benchmark_version')!r}")
        fingerprints = {"meta": meta_data.get("dataset_fingerprint"), "evaluation": expect_fingerprint}
        for origin, fp in fingerprints.items():
            if fp and fp != info.get("fingerprint"):
                problems.append(f"{origin}: dataset fingerprint {fp[:12]}... does not match the dataset's "
                                f"{str(info.get('fingerprint'))[:12]}... (a different build of the data)")
    if meta_data is not None and protocol is not None and protocol.ood_generators:
        training = meta_data.get("training_data")
        # a non-object training_data is already reported by the schema check; do not crash on it
        declared = training.get("only_in_distribution_generators") if isinstance(training, dict) else None
        if declared is False:
            problems.append(f"meta: training_data.only_in_distribution_generators must be true on {benchmark}: "
                            "a model trained on the held-out generators cannot be ranked here")
    if pred is not None and labels is not None:
        problems += check_predictions(pred, labels, f"predictions {pinfo['file']}",
                                      "line" if pinfo["format"] == "csv" else "row")

    slug = path = None
    if meta_data is not None and not meta_problems:
        slug = meta_data.get("slug") or slugify(str(meta_data.get("model_name", "")))
        try:
            path = entry_path(root, benchmark, slug)
        except ValueError as err:
            problems.append(f"meta: {err}")
        if path is not None and path.exists() and not replace:
            problems.append(f"entry {path} already exists: choose another slug, or pass --replace to overwrite")
    if problems:
        raise SubmissionRejected(problems)

    scored = score(pred, labels, n_bootstrap=n_bootstrap, seed=seed)
    entry: dict[str, Any] = {
        "schema_version": schema.SCHEMA_VERSION,
        "kind": "reproduced",
        "benchmark": benchmark,
        "benchmark_version": str(info["benchmark_version"]),
        "dataset_fingerprint": info["fingerprint"],
        "slug": slug,
        "model_name": meta_data["model_name"],
        "parameters": meta_data.get("parameters"),
        "paper_url": meta_data.get("paper_url"),
        "code_url": meta_data.get("code_url"),
        "command": meta_data.get("command"),
        "notes": meta_data.get("description"),
        "meta": meta_data,
        "predictions": {"sha256": pinfo["sha256"], "n_rows": int(len(pred)), "format": pinfo["format"],
                        "ignored_columns": pinfo.get("ignored_columns", [])},
        "scoring": {"threshold": 0.5, "n_bootstrap": n_bootstrap, "seed": seed,
                    "splits": sorted(labels["split"].unique().tolist())},
        "report": scored["report"],
        "report_all_tests": scored["report_all_tests"],
        "summary": summarise(scored["report"], scored["report_all_tests"]),
        "mom_bench_version": __version__,
        "date": today or _dt.date.today().isoformat(),
    }
    if store_predictions:
        text = stored_predictions_text(pred)
        stored = path.with_name(f"{slug}.predictions.csv")
        stored.parent.mkdir(parents=True, exist_ok=True)
        stored.write_text(text, encoding="utf-8")
        entry["predictions"]["stored"] = stored.name
        entry["predictions"]["stored_sha256"] = hashlib.sha256(text.encode()).hexdigest()
    bad = schema.validate(entry, schema.ENTRY_REPRODUCED)
    if bad:  # our own output must satisfy our own schema; fail loudly rather than publish a broken entry
        raise RuntimeError("internal error: the new entry breaks the entry schema: " + "; ".join(bad[:5]))
    write_json_atomic(path, entry)
    return path


def entry_from_evaluation(results_dir: Path | str, meta: Path | str | dict | None = None, *,
                          root: Path | str = "leaderboard", data_dir: Path | str | None = None,
                          benchmark: str | None = None, replace: bool = False, **kwargs) -> Path:
    """Turn a ``mom-bench evaluate`` results folder into a reproduced entry (``evaluate --submit``).

    Reads ``results.json`` (benchmark, version, dataset fingerprint and folder, model) and
    ``predictions.csv``. Metadata fields the run knows are filled in when ``meta`` lacks them (model name,
    registry name, parameter count, benchmark version, fingerprint, date), so ``meta`` only has to add
    authors, contact, licence and the training declaration. The entry is scored with the run's bootstrap
    settings and must reproduce the run's metrics exactly; a predictions.csv edited after the run is refused.
    """
    results_dir = Path(results_dir)
    results_file = results_dir / "results.json"
    if not results_file.is_file():
        raise SubmissionRejected([f"{results_dir}: no results.json (is this a `mom-bench evaluate` output?)"])
    try:
        results = json.loads(results_file.read_text(encoding="utf-8"))
    except ValueError as err:
        raise SubmissionRejected([f"{results_file}: not valid JSON ({err})"]) from None
    bench = results.get("benchmark")
    bench = bench if isinstance(bench, dict) else {"name": bench}
    name = bench.get("name")
    if not isinstance(name, str):
        raise SubmissionRejected([f"{results_file}: does not name its benchmark"])
    if benchmark and benchmark != name:
        raise SubmissionRejected([f"{results_file}: the run is on {name!r}, not {benchmark!r}"])
    if meta is None or isinstance(meta, dict):
        meta_data = dict(meta or {})
    else:
        meta_data, problems = load_meta(meta)
        if meta_data is None:
            raise SubmissionRejected(problems)
    model = results.get("model") if isinstance(results.get("model"), dict) else {}
    defaults = {
        "model_name": model.get("name"),
        "registry_model": model.get("name"),
        "parameters": _parameter_count(model.get("name")),
        "benchmark_version": bench.get("version"),
        "dataset_fingerprint": bench.get("fingerprint"),
        "date": _dt.date.today().isoformat(),
    }
    for key, value in defaults.items():
        if meta_data.get(key) in (None, "") and value not in (None, ""):
            meta_data[key] = value
    run_metrics = results.get("metrics") if isinstance(results.get("metrics"), dict) else {}
    for key in ("n_bootstrap", "seed"):
        if key not in kwargs and isinstance(run_metrics.get(key), int):
            kwargs[key] = run_metrics[key]
    fp = bench.get("fingerprint")
    path = submit(results_dir / "predictions.csv", meta_data, name, data_dir=data_dir or bench.get("dataset"),
                  root=root, replace=replace, expect_fingerprint=fp if isinstance(fp, str) else None, **kwargs)
    entry = json.loads(path.read_text(encoding="utf-8"))
    same_settings = (run_metrics.get("threshold") == 0.5 and run_metrics.get("n_bootstrap") == entry["scoring"]["n_bootstrap"]
                     and run_metrics.get("seed") == entry["scoring"]["seed"]
                     and sorted(run_metrics.get("splits", {})) == entry["scoring"]["splits"])
    if same_settings and not same_numbers(_jsonable(run_metrics.get("splits")), entry["report"].get("splits")):
        path.unlink()
        stored = entry["predictions"].get("stored")
        if stored:
            path.with_name(stored).unlink(missing_ok=True)
        raise SubmissionRejected([f"{results_dir}/predictions.csv does not reproduce the metrics in results.json "
                                  "(edited after the run?)"])
    return path


def same_numbers(a: Any, b: Any, tol: float = 1e-9) -> bool:
    """Equal structure and equal numbers up to ``tol`` (a float written to CSV and read back may move 1 ulp)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_numbers(a[k], b[k], tol) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_numbers(x, y, tol) for x, y in zip(a, b))
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return math.isclose(a, b, rel_tol=tol, abs_tol=tol)
    return a == b


def _parameter_count(model_name: Any) -> int | None:
    if not isinstance(model_name, str):
        return None
    try:
        from mom_bench.models import registry

        return int(registry.resolve(model_name).parameter_count())
    except Exception:  # unknown to this registry or not countable here: the submitter states it
        return None


def _first(data: dict, *paths: tuple[str, ...]):
    for path in paths:
        node: Any = data
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
        if node is not None:
            return node
    return None


def describe(entry: dict) -> str:
    """A few lines for the terminal after a successful submission."""
    s = entry["summary"]

    def fmt(m):
        if not m or m.get("value") is None:
            return "n/a"
        ci = m.get("ci")
        return f"{m['value']:.3f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "")

    lines = [f"{entry['model_name']} on {entry['benchmark']} {entry['benchmark_version']} "
             f"({entry['predictions']['n_rows']} predictions)",
             f"  F1 {fmt(s.get('f1'))}   F1 ID {fmt(s.get('f1_id'))}   F1 OOD {fmt(s.get('f1_ood'))}   "
             f"AUC {fmt(s.get('auc'))}   EER {fmt(s.get('eer'))}"]
    for gen, m in s.get("per_generator", {}).items():
        lines.append(f"  {gen:<24} F1 {fmt(m.get('f1'))}   TPR {fmt(m.get('tpr'))}")
    return "\n".join(lines)
