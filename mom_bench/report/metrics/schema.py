"""The JSON Schema of ``results.json``, generated from the types of :mod:`mom_bench.report.documents` and the metric
registry, and the check ``mom-bench evaluate`` runs before it writes a results folder.

The same schema is shipped as ``mom_bench/report/schemas/results.schema.json`` for users' own tools; a test checks
the file equals the generated schema, and ``python -m mom_bench.report.metrics.schema`` rewrites it after a change
to the types or to the built-in metrics.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mom_bench.core.json_schema import DIALECT, from_type, validate
from mom_bench.report import documents
from mom_bench.report.metrics import registry

#: The schema of results.json, as shipped with the package.
RESULTS_SCHEMA_PATH = Path(__file__).resolve().parents[1] / "schemas" / "results.schema.json"

_STATISTIC = {**from_type(documents.Statistic), "description": "a number with its bootstrap interval"}


def _block(marker: Any) -> dict[str, Any] | None:
    """The schema of a block whose metrics the registry declares (:class:`mom_bench.report.documents.MetricBlock`),
    and of a statistic (with its description)."""
    if marker is documents.Statistic:
        return _STATISTIC
    if not isinstance(marker, documents.MetricBlock):
        return None
    if marker.name == "overall":
        keys = [m.key for m in registry.all_metrics()]
        counts: dict[str, Any] = {}
    elif marker.name == "per_generator":
        keys = [c.key for _, c in registry.generator_columns()]
        counts = {"n_fake": from_type(documents.Count), "n_real": from_type(documents.Count)}
    elif marker.name == "localisation":
        keys = [m.key for m in registry.localisation_metrics()]
        counts = {}
    elif marker.name == "stratum":
        keys = [c.key for _, c in registry.stratum_columns()]
        counts = {k: from_type(documents.Count) for k in ("n", "n_fake", "n_real")}
    else:
        raise ValueError(f"no metric block named {marker.name!r}")
    properties = {**counts, **{k: _STATISTIC for k in keys}}
    return {"type": "object", "required": list(properties), "additionalProperties": False, "properties": properties}


def results_schema() -> dict[str, Any]:
    """The schema of results.json with the metrics registered now."""
    return {"$schema": DIALECT, "$id": f"urn:mom-bench:schema:results:{documents.RESULTS_SCHEMA_VERSION}",
            "title": "results.json of `mom-bench evaluate`", **from_type(documents.Results, _block)}


#: The schema with the built-in metrics: what the shipped file holds.
RESULTS_SCHEMA: dict[str, Any] = results_schema()


def results_problems(doc: Any) -> list[str]:
    """Every way ``doc`` differs from the results schema, one ``/json/pointer: reason`` each."""
    return validate(doc, results_schema())


def check_results(doc: Any) -> None:
    """Raise :class:`mom_bench.report.documents.DocumentError` listing every problem when ``doc`` is not a valid
    results.json."""
    problems = results_problems(doc)
    if problems:
        shown = problems[:20] + ([f"... and {len(problems) - 20} more"] if len(problems) > 20 else [])
        raise documents.DocumentError(f"results document does not match its schema ({len(problems)} problem"
                                      f"{'s' if len(problems) > 1 else ''}): " + "; ".join(shown))


def schema_text(schema: dict[str, Any] | None = None) -> str:
    """The schema file's exact text: indented JSON with a final newline."""
    return json.dumps(RESULTS_SCHEMA if schema is None else schema, indent=2, ensure_ascii=False) + "\n"


def write_schema(path: Path = RESULTS_SCHEMA_PATH) -> Path:
    """(Re)write ``mom_bench/report/schemas/results.schema.json`` from :data:`RESULTS_SCHEMA`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(schema_text(), encoding="utf-8")
    return path


if __name__ == "__main__":
    print(write_schema())
