"""A run's robustness summary carried into its leaderboard entry as the submitter's claim, once it is shown
to belong to that run (the same build, model and clean numbers)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mom_bench.core.files import sha256_file
from mom_bench.leaderboard import schema
from mom_bench.leaderboard.scoring import SubmissionRejected, same_numbers
from mom_bench.leaderboard.submission_files import _no_constant

#: A robustness.json is the summary of at most a few hundred transforms: anything larger is not one.
MAX_ROBUSTNESS_BYTES = 64 * 1024 * 1024
#: The clean numbers of robustness.json that must equal those of the entry's own report, split by split.
_CLEAN_TIES = (("tpr", "recall"), ("f1", "f1"), ("auc", "auc"))


def robustness_claim(results_dir: Path | str, results: dict, entry: dict) -> dict | None:
    """The robustness summary of ``results_dir/robustness/robustness.json`` as an entry carries it (the
    submitter's claim, :data:`schema.ROBUSTNESS`), or None when the run had no robustness suite.

    The numbers under transforms cannot be re-scored from id,score predictions, so the summary is only
    bounded by the schema; what can be checked is that the document belongs to this run: the same benchmark
    build and model as ``results.json``, and clean numbers equal to those the entry scored from the
    predictions. Raises SubmissionRejected naming the file otherwise."""
    from mom_bench.loop.robustness import FOLDER, MARKER

    path = Path(results_dir) / FOLDER / MARKER
    if not path.exists() and not path.is_symlink():
        return None
    document = _robustness_document(path)
    problems = _foreign_robustness(document, results, entry)
    summary = document.get("summary")
    if not isinstance(summary, dict):
        problems.append("it has no summary object")
        summary = {}
    copied = {key: summary[key] for key in schema.ROBUSTNESS["required"] if key in summary}
    claim = {**copied, "reported_by": "submitter", "file_sha256": sha256_file(path)}
    found = schema.text_problems(claim) + schema.validate(claim, schema.ROBUSTNESS)
    problems += [f"summary{p}{_allowed(p)}" for p in found]
    if problems:
        raise SubmissionRejected([f"{path}: {p}" for p in problems])
    return claim


def _allowed(problem: str) -> str:
    """The allowed range of the field a schema problem names, when the problem itself does not say it."""
    key = problem.lstrip("/").split(":", 1)[0]
    field = schema.ROBUSTNESS["properties"].get(key, {})
    if "description" not in field or "expected" in problem:  # a pattern problem quotes the description already
        return ""
    return f" (allowed: {field['description']})"


def _robustness_document(path: Path) -> dict:
    if path.is_symlink() or not path.is_file():
        raise SubmissionRejected([f"{path}: not a regular file; the robustness summary is read only from the file "
                                  "`mom-bench evaluate --robustness` wrote"])
    size = path.stat().st_size
    if size > MAX_ROBUSTNESS_BYTES:
        raise SubmissionRejected([f"{path}: {size:,} bytes is over the limit of {MAX_ROBUSTNESS_BYTES:,} bytes for "
                                  "a robustness summary"])
    try:
        document = json.loads(path.read_text(encoding="utf-8"), parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError) as err:
        raise SubmissionRejected([f"{path}: not valid JSON ({err})"]) from None
    if not isinstance(document, dict):
        raise SubmissionRejected([f"{path}: expected a JSON object, got {type(document).__name__}"])
    return document


def _foreign_robustness(document: dict, results: dict, entry: dict) -> list[str]:
    """Why ``document`` is not the robustness run of these results and this entry (empty when it is)."""
    problems = []
    bench = _mapping(document.get("benchmark"))
    if bench.get("name") != entry["benchmark"] or bench.get("fingerprint") != entry["dataset_fingerprint"]:
        problems.append(f"it is a run on {str(bench.get('name'))[:40]!r} (dataset fingerprint "
                        f"{str(bench.get('fingerprint'))[:12]}...), not on this build of {entry['benchmark']} "
                        f"({entry['dataset_fingerprint'][:12]}...)")
    model = _mapping(results.get("model"))
    if document.get("model") != model.get("name"):
        problems.append(f"it is a run of model {str(document.get('model'))[:40]!r}, results.json of "
                        f"{str(model.get('name'))[:40]!r}")
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
