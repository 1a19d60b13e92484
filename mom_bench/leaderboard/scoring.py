"""What submitting and validating share: reading a submission's files safely, the labels of a built dataset,
checking predictions against them, scoring, and where entries live.

A submission is untrusted data from a stranger. Nothing in it is executed: CSV is parsed by pandas,
Parquet by pyarrow, metadata by ``yaml.safe_load``/``json``; pickles and archives are refused by their
magic bytes before any parser sees them, sizes are checked before reading, and the entry's file name is
sanitised and then proven to stay inside ``entries/<benchmark>/``. Every problem found is collected, so the
submitter sees the whole list at once instead of fixing one error per attempt.
"""
from __future__ import annotations

import csv
import datetime as _dt
import io
import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mom_bench import metrics
from mom_bench._io import sha256_file, write_atomic
from mom_bench.dataset import read
from mom_bench.errors import MomBenchError
from mom_bench.leaderboard import schema
from mom_bench.splits import TEST_SPLITS

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


class SubmissionRejected(MomBenchError, ValueError):
    """A submission with problems; ``problems`` holds one line per problem."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__(f"submission rejected ({len(self.problems)} problem"
                         f"{'s' if len(self.problems) != 1 else ''}):\n" + "\n".join(f"  - {p}" for p in problems))




# --------------------------------------------------------------------------------------------------
# reading the files


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

                # Aliases let a few hundred bytes expand into gigabytes once loaded ("billion laughs"):
                # metadata never needs them, so they are refused while parsing, before anything is built.
                if any(isinstance(event, yaml.AliasEvent) for event in yaml.parse(text, Loader=yaml.SafeLoader)):
                    return None, [f"{label}: YAML aliases (*name) are not accepted in metadata; write the values out"]
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
    base = ["id", "split", "generator", "label"]
    present = [s for s in splits if s in read.read_info(data_dir)["splits"]]
    frames = []
    for split in present:
        names = read.column_names(data_dir, split)
        extra: dict[str, str | None] = {"duration_s": "duration_s" if "duration_s" in names else None}
        extra.update(read.stratum_columns(data_dir, split))
        columns = ["id", "generator", "label"] + [c for c in extra.values() if c]
        table = read.read_table(data_dir, split, columns).rename(columns={c: k for k, c in extra.items() if c})
        table.insert(1, "split", split)
        frames.append(table)
    if not frames:
        return pd.DataFrame({c: [] for c in base})
    labels = pd.concat(frames, ignore_index=True)
    labels["id"] = labels["id"].astype(str)
    labels["label"] = labels["label"].astype(int)
    return labels



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
    # Rows stay in the dataset's stored order (test_id, then test_ood), the order `evaluate` scores them
    # in: the bootstrap of AUC/EER draws rows by position, so the same order gives the same intervals.
    df = labels.merge(pred[["id", "score"]], on="id", how="left", validate="one_to_one")
    front = ["id", "split", "generator", "label", "score"]
    df = df[front + [c for c in df.columns if c not in front]]
    report = metrics.compute_report(df, threshold=threshold, n_bootstrap=n_bootstrap, seed=seed)
    pooled = metrics.compute_report(df.assign(split="test"), threshold=threshold, n_bootstrap=n_bootstrap, seed=seed)
    return {"report": jsonable(report), "report_all_tests": jsonable(pooled)}


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


def jsonable(value: Any) -> Any:
    """numpy scalars -> Python numbers, NaN/inf -> None, tuples -> lists (JSON has no NaN)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json_atomic(path: Path, data: Any) -> None:
    """An entry (or any leaderboard JSON file), written atomically; NaN is refused, not written."""
    write_atomic(path, json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n")


def stored_predictions_text(pred: pd.DataFrame) -> str:
    """The id,score table kept beside an entry so ``leaderboard validate`` can re-score it."""
    ordered = pred[["id", "score"]].sort_values("id", kind="stable")
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["id", "score"])
    for ident, value in ordered.itertuples(index=False):
        writer.writerow([ident, repr(float(value))])
    return buf.getvalue()


def same_numbers(a: Any, b: Any, tol: float = 1e-9) -> bool:
    """Equal structure and equal numbers up to ``tol`` (a float written to CSV and read back may move 1 ulp)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_numbers(a[k], b[k], tol) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_numbers(x, y, tol) for x, y in zip(a, b))
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return math.isclose(a, b, rel_tol=tol, abs_tol=tol)
    return a == b
