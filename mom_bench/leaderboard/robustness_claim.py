"""A run's robustness summary carried into its leaderboard entry as the submitter's claim, once it is shown
to belong to that run (the same build, model and clean numbers) and to be the summary of its own document:
the summary is recomputed from the document's transform rows by the function `mom-bench evaluate --robustness`
used (:func:`mom_bench.loop.robustness.recomputed_summary`), and any field that differs refuses it. The
document is stored beside the entry, so ``leaderboard validate`` recomputes the summary again."""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mom_bench.leaderboard import schema
from mom_bench.leaderboard.scoring import SubmissionRejected, same_numbers
from mom_bench.leaderboard.submission_files import json_object

#: A robustness.json is the summary of at most a few hundred transforms: anything larger is not one.
MAX_ROBUSTNESS_BYTES = 64 * 1024 * 1024
#: The clean numbers of robustness.json that must equal those of the entry's own report, split by split.
_CLEAN_TIES = (("tpr", "recall"), ("f1", "f1"), ("auc", "auc"))
#: The fields of a claim that are the document's summary (the rest say who reported it and which file).
SUMMARY_FIELDS = tuple(k for k in schema.ROBUSTNESS["required"] if k not in ("reported_by", "file_sha256"))
#: How far a float of a claimed summary may be from the recomputed one. The claim is a copy of numbers that
#: evaluate computed from the same rows, so they are normally bit-identical; but a mean over transforms summed
#: in another order (another numpy, another machine) or a document re-saved by another JSON writer can move
#: the last bits. 1e-9 relative (1e-12 absolute, for values at zero) is far above such rounding (~1e-16) and
#: far below anything the leaderboard shows (3 decimals). Booleans, integers, text and null compare exactly.
_REL_TOL, _ABS_TOL = 1e-9, 1e-12


@dataclass(frozen=True)
class RobustnessClaim:
    """The claim an entry carries (:data:`schema.ROBUSTNESS`, without its stored name) and the document's text,
    byte for byte, to be stored beside the entry."""

    claim: dict[str, Any]
    text: str


def robustness_claim(results_dir: Path | str, results: dict, entry: dict) -> RobustnessClaim | None:
    """The robustness summary of ``results_dir/robustness/robustness.json`` as an entry carries it (the
    submitter's claim, :data:`schema.ROBUSTNESS`) with the document's text, or None when the run had no
    robustness suite.

    The numbers under transforms cannot be re-scored from id,score predictions, so what is checked is that the
    document belongs to this run (the same benchmark build and model as ``results.json``, and clean numbers
    equal to those the entry scored from the predictions), that its summary is in range, and that the summary
    equals the one recomputed from the document's transform rows. Raises SubmissionRejected naming the file
    (and each field that differs, with the claimed and the recomputed value) otherwise."""
    from mom_bench.loop.robustness import FOLDER, MARKER

    path = Path(results_dir) / FOLDER / MARKER
    if not path.exists() and not path.is_symlink():
        return None
    raw = _robustness_bytes(path)
    document, problems = parse_document(raw)
    if document is None:
        raise SubmissionRejected([f"{path}: {p}" for p in problems])
    problems = foreign_robustness(document, entry, model=_mapping(results.get("model")).get("name"))
    summary = document.get("summary")
    if not isinstance(summary, dict):
        problems.append("it has no summary object")
        summary = {}
    copied = {key: summary[key] for key in schema.ROBUSTNESS["required"] if key in summary}
    claim = {**copied, "reported_by": "submitter", "file_sha256": hashlib.sha256(raw).hexdigest()}
    found = schema.text_problems(claim) + schema.validate(claim, schema.ROBUSTNESS)
    problems += [f"summary{p}{_allowed(p)}" for p in found]
    if summary:
        problems += summary_mismatches(claim, document)
    if problems:
        raise SubmissionRejected([f"{path}: {p}" for p in problems])
    return RobustnessClaim(claim, raw.decode("utf-8"))


#: The robustness document in raw bytes (a JSON object; NaN and Infinity refused), or None with why not.
parse_document = json_object


def summary_mismatches(claim: dict[str, Any], document: dict[str, Any]) -> list[str]:
    """Each field of ``claim`` (:data:`SUMMARY_FIELDS`) that is not the value recomputed from ``document``
    by :func:`mom_bench.loop.robustness.recomputed_summary`, named with both values; empty when all agree."""
    from mom_bench.loop.robustness import recomputed_summary

    try:
        again = recomputed_summary(document)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as err:
        return [f"its summary cannot be recomputed from its transform rows, which are not as `mom-bench evaluate "
                f"--robustness` writes them ({type(err).__name__}: {str(err)[:80]})"]
    return [f"summary/{key}: claimed {_shown(claim.get(key))}, but the summary recomputed from the document's "
            f"transforms is {_shown(again.get(key))}"
            for key in SUMMARY_FIELDS if not same_value(claim.get(key), again.get(key))]


def same_value(claimed: Any, recomputed: Any) -> bool:
    """Whether a claimed summary value is the recomputed one: floats within :data:`_REL_TOL` (see there),
    everything else (booleans, integers, text, null) exactly and of the same type."""
    numbers = (int, float)
    if (isinstance(claimed, float) or isinstance(recomputed, float)) and \
            isinstance(claimed, numbers) and isinstance(recomputed, numbers) and \
            not isinstance(claimed, bool) and not isinstance(recomputed, bool):
        return math.isclose(claimed, recomputed, rel_tol=_REL_TOL, abs_tol=_ABS_TOL)
    return type(claimed) is type(recomputed) and claimed == recomputed


def _shown(value: Any) -> str:
    """A value for a message: JSON spelling (true, null), shortened."""
    text = json.dumps(value, ensure_ascii=True) if isinstance(value, (bool, int, float, str, type(None))) else \
        repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _allowed(problem: str) -> str:
    """The allowed range of the field a schema problem names, when the problem itself does not say it."""
    key = problem.lstrip("/").split(":", 1)[0]
    field = schema.ROBUSTNESS["properties"].get(key, {})
    if "description" not in field or "expected" in problem:  # a pattern problem quotes the description already
        return ""
    return f" (allowed: {field['description']})"


def _robustness_bytes(path: Path) -> bytes:
    if path.is_symlink() or not path.is_file():
        raise SubmissionRejected([f"{path}: not a regular file; the robustness summary is read only from the file "
                                  "`mom-bench evaluate --robustness` wrote"])
    size = path.stat().st_size
    if size > MAX_ROBUSTNESS_BYTES:
        raise SubmissionRejected([f"{path}: {size:,} bytes is over the limit of {MAX_ROBUSTNESS_BYTES:,} bytes for "
                                  "a robustness summary"])
    return path.read_bytes()


def foreign_robustness(document: dict, entry: dict, *, model: Any, check_model: bool = True) -> list[str]:
    """Why ``document`` is not the robustness run of this entry and (with ``check_model``) of ``model``, the
    model results.json names: empty when it is."""
    problems = []
    bench = _mapping(document.get("benchmark"))
    if bench.get("name") != entry["benchmark"] or bench.get("fingerprint") != entry["dataset_fingerprint"]:
        problems.append(f"it is a run on {str(bench.get('name'))[:40]!r} (dataset fingerprint "
                        f"{str(bench.get('fingerprint'))[:12]}...), not on this build of {entry['benchmark']} "
                        f"({entry['dataset_fingerprint'][:12]}...)")
    if check_model and document.get("model") != model:
        problems.append(f"it is a run of model {str(document.get('model'))[:40]!r}, results.json of "
                        f"{str(model)[:40]!r}")
    clean = _mapping(document.get("clean"))
    splits = entry["report"]["splits"]
    if not clean or set(clean) - set(splits):
        problems.append(f"its clean splits ({', '.join(sorted(map(str, clean))) or 'none'}) are not among the "
                        f"entry's ({', '.join(sorted(splits))})")
        return problems
    for split, stats in sorted(clean.items()):
        for theirs, ours in _CLEAN_TIES:
            claimed = _mapping(_mapping(stats).get(theirs)).get("value")
            scored = splits[split]["overall"][ours].get("value")
            if not same_numbers(claimed, scored):
                problems.append(f"its clean {theirs} on {split} ({repr(claimed)[:40]}) is not the {scored!r} scored "
                                "from predictions.csv: the robustness run is of other predictions")
                return problems
    return problems


def _mapping(value: Any) -> dict:
    """``value`` when it is a JSON object, else an empty one: a hand-made document may hold anything."""
    return value if isinstance(value, dict) else {}
