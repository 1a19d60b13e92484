"""The typed documents (mom_bench.report.documents): the results.json schema against a real report, the shipped
schema file, the TypedDicts against real documents, and the report's numbers against a committed copy."""
from __future__ import annotations

import ast
import copy
import importlib
import json
import types
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints, is_typeddict

import numpy as np
import pandas as pd
import pytest

from mom_bench.core import json_schema
from mom_bench.core.errors import MomBenchError
from mom_bench.report import documents, metrics
from mom_bench.report.metrics import schema as results_schema

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = Path(__file__).resolve().parent / "golden" / "compute_report_seed0.json"


def predictions_frame() -> pd.DataFrame:
    """Three splits with every kind of row compute_report treats apart: a generator that is always caught
    (zero-width CI), a split without reals (AUC null), strata with unusable values (``_unknown``)."""
    rng = np.random.default_rng(1234)
    rows = []
    layout = {"test_id": {"real": 30, "suno": 20, "udio": 12},
              "test_ood": {"real": 25, "gen_x": 15, "gen_y": 9},
              "validation": {"suno": 8, "udio": 6}}
    for split, groups in layout.items():
        for gen, n in groups.items():
            fake = gen != "real"
            for i in range(n):
                if gen == "gen_y":
                    score = 0.9 + 0.1 * rng.random()
                else:
                    score = float(np.clip(rng.normal(0.62 if fake else 0.38, 0.2), 0.0, 1.0))
                k = len(rows)
                rows.append({
                    "id": f"{gen}-{i:03d}", "split": split, "generator": gen, "label": int(fake), "score": score,
                    "duration_s": [35.0, 75.5, 150.0, float("nan")][k % 4],
                    "vocals": [True, False, None, "yes", "instrumental"][k % 5],
                    "language": ["en", "fr", None, "", "de"][k % 5],
                })
    return pd.DataFrame(rows)


def report() -> dict[str, Any]:
    return metrics.compute_report(predictions_frame(), n_bootstrap=200, seed=0)


def results_document(rep: dict[str, Any]) -> dict[str, Any]:
    """A results.json as `mom-bench evaluate` assembles it (``rep`` is copied: tests edit the document)."""
    return {
        "schema_version": 1,
        "created": "2026-01-31T12:00:00+00:00",
        "mom_bench_version": "0.1.0",
        "git_commit": "0123456789abcdef0123456789abcdef01234567+dirty",
        "libraries": {"torch": "2.13.0", "torchcodec": None},
        "benchmark": {"name": "tiny", "version": "0.1.0", "fingerprint": "ab" * 32, "dataset": "/data/tiny",
                      "splits": ["test_id", "test_ood", "validation"]},
        "model": {"requested": "clam-mini", "name": "clam-mini",
                  "config": {"model": "clam-mini", "sample_rate": 16000, "layers": [1, 2]},
                  "checkpoint": "/runs/tiny/clam-mini/best", "checkpoint_sha256": "cd" * 32,
                  "training": {"model": "clam-mini", "requested_model": "clam-mini", "benchmark": "tiny",
                               "dataset_fingerprint": "ab" * 32, "recipe": {"epochs": 2}, "recipe_family": "clam",
                               "epochs_done": 2, "best_epoch": 1, "best_val_f1": 0.5},
                  "encoders": {"mert": "hf|m-a-p/MERT-v1-95M@abc|sr=24000|norm=0"},
                  "device": "cpu"},
        "metrics": copy.deepcopy(rep),
    }


@pytest.fixture(scope="module")
def real_report():
    return report()


def _problems(doc) -> str:
    with pytest.raises(documents.DocumentError) as err:
        results_schema.check_results(doc)
    assert isinstance(err.value, MomBenchError) and isinstance(err.value, ValueError)
    return str(err.value)


# --------------------------------------------------------------------------------------------------
# the numbers


def test_report_numbers_are_the_committed_ones(real_report):
    """Bit-identical to the report computed before the bootstrap draws left the public split dicts
    (regenerate only on purpose: ``python tests/test_documents.py``)."""
    rep = dict(real_report)
    assert rep.pop("definitions") == metrics.DEFINITIONS
    assert json.dumps(rep, indent=1) + "\n" == GOLDEN.read_text()


def test_no_private_value_travels_in_the_report(real_report):
    def keys(node):
        if isinstance(node, dict):
            for k, v in node.items():
                yield k
                yield from keys(v)

    assert not [k for k in keys(real_report) if k.startswith("_") and k != "_unknown"]


# --------------------------------------------------------------------------------------------------
# check_results


def test_real_report_passes(real_report):
    doc = results_document(real_report)
    assert results_schema.results_problems(doc) == []
    results_schema.check_results(doc)
    # as written to disk and read back
    results_schema.check_results(json.loads(json.dumps(doc)))
    # the variants evaluate writes: no checkpoint (a user's module), no run folder, a missing library
    doc["model"].update(checkpoint=None, checkpoint_sha256=None, training=None, encoders={})
    doc.update(git_commit=None)
    results_schema.check_results(doc)


def test_a_missing_key_is_named_by_its_path(real_report):
    doc = results_document(real_report)
    del doc["metrics"]["splits"]["test_id"]["overall"]["auc"]
    del doc["model"]["device"]
    text = _problems(doc)
    assert "2 problems" in text
    assert "/metrics/splits/test_id/overall/auc: required but missing" in text
    assert "/model/device: required but missing" in text


def test_a_missing_key_deep_in_a_map_is_named(real_report):
    doc = results_document(real_report)
    del doc["metrics"]["splits"]["test_ood"]["per_generator"]["gen_y"]["tpr"]["ci"]
    assert "/metrics/splits/test_ood/per_generator/gen_y/tpr/ci: required but missing" in _problems(doc)
    doc = results_document(real_report)
    del doc["metrics"]["splits"]["test_id"]["strata"]["duration"]["<=60s"]["f1"]
    assert "/metrics/splits/test_id/strata/duration/<=60s/f1: required but missing" in _problems(doc)


@pytest.mark.parametrize("path, value, expected", [
    ("metrics/splits/test_id/per_generator/suno/n_fake", "20", "expected integer, got str '20'"),
    ("metrics/splits/test_id/overall/f1/value", "0.5", "expected number or null, got str"),
    ("metrics/splits/test_id/overall/f1/ci", [0.1], "needs at least 2 items, has 1"),
    ("metrics/id_ood_gap", None, "expected object, got NoneType"),
    ("metrics/n_bootstrap", 1.5, "expected integer, got float 1.5"),
    ("metrics/splits/test_id/confusion/tp", True, "expected integer, got bool True"),
    ("metrics/splits/validation/strata/vocals/_unknown/n", -1, "-1 is below the minimum 0"),
    ("benchmark/splits", "test_id", "expected array, got str"),
    ("benchmark/fingerprint", "abc", "'abc' is not valid (expected 64 lowercase hex digits)"),
    ("libraries/torch", 2, "expected string or null, got int 2"),
    ("model/training/epochs_done", "2", "expected integer or null"),
    ("model/encoders/mert", None, "expected string, got NoneType"),
    ("created", "yesterday", "'yesterday' is not valid"),
    ("schema_version", 2, "must be 1, got 2"),
])
def test_a_wrong_type_is_named_by_its_path(real_report, path, value, expected):
    doc = results_document(real_report)
    *parents, last = path.split("/")
    node = doc
    for key in parents:
        node = node[key]
    node[last] = value
    text = _problems(doc)
    assert f"/{path}: {expected}" in text, text


@pytest.mark.parametrize("path", [
    "extra", "model/extra", "benchmark/extra", "metrics/extra", "metrics/splits/test_id/extra",
    "metrics/splits/test_id/confusion/extra", "metrics/splits/test_id/overall/extra",
    "metrics/splits/test_id/overall/f1/extra", "metrics/splits/test_id/per_generator/suno/extra",
    "metrics/splits/test_id/strata/extra", "metrics/splits/test_id/strata/duration/<=60s/extra",
    "metrics/splits/test_id/strata/duration/_unknown/extra", "metrics/id_ood_gap/extra",
    "model/training/extra",
])
def test_an_unknown_key_in_a_fixed_shape_is_refused(real_report, path):
    doc = results_document(real_report)
    *parents, last = path.split("/")
    node = doc
    for key in parents:
        node = node[key]
    node[last] = 1
    assert f"/{path}: unknown field" in _problems(doc)


def test_maps_take_new_names_but_check_their_values(real_report):
    doc = results_document(real_report)
    gens = doc["metrics"]["splits"]["test_id"]["per_generator"]
    gens["new_gen"] = dict(gens["suno"])
    doc["libraries"]["scipy"] = "1.0"
    doc["model"]["config"]["anything"] = {"nested": [1, "a"]}
    results_schema.check_results(doc)
    gens["new_gen"] = {"n_fake": 1}
    text = _problems(doc)
    assert "/metrics/splits/test_id/per_generator/new_gen/tpr: required but missing" in text


def test_an_unknown_key_gets_a_hint(real_report):
    doc = results_document(real_report)
    doc["model"]["devices"] = doc["model"].pop("device")
    text = _problems(doc)
    assert "/model/devices: unknown field (did you mean 'device'?)" in text


def test_not_an_object_at_all():
    assert "/: expected object, got list" in _problems([])


# --------------------------------------------------------------------------------------------------
# the schema itself


def test_schema_uses_only_what_the_validator_enforces():
    assert json_schema.unsupported_keywords(results_schema.RESULTS_SCHEMA) == []


def test_schema_file_is_generated_from_the_dict():
    """`python -m mom_bench.report.metrics.schema` rewrites the file after a change to the types or the registry."""
    shipped = results_schema.RESULTS_SCHEMA_PATH
    assert shipped == ROOT / "mom_bench" / "report" / "schemas" / "results.schema.json"
    assert shipped.read_text(encoding="utf-8") == results_schema.schema_text()
    assert json.loads(shipped.read_text(encoding="utf-8")) == results_schema.RESULTS_SCHEMA


def test_schema_file_is_packaged():
    import tomllib

    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "report/schemas/*.json" in data["tool"]["setuptools"]["package-data"]["mom_bench"]


def test_schema_versions_follow_the_writers():
    try:
        evaluate = importlib.import_module("mom_bench.loop.evaluation")
    except ModuleNotFoundError:  # the module's name before the package was restructured
        evaluate = importlib.import_module("mom_bench.evaluate")
    assert documents.REPORT_SCHEMA_VERSION == metrics.SCHEMA_VERSION
    assert documents.RESULTS_SCHEMA_VERSION == evaluate.RESULTS_SCHEMA_VERSION


def _mom_bench_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("mom_bench"):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("mom_bench")}
    return found


def test_low_level_modules_import_almost_nothing():
    assert _mom_bench_imports(ROOT / "mom_bench" / "core" / "json_schema.py") == set()
    assert _mom_bench_imports(ROOT / "mom_bench" / "report" / "documents.py") <= {"mom_bench.core.errors",
                                                                               "mom_bench.core.json_schema"}


def test_leaderboard_schema_still_offers_the_validator():
    from mom_bench.leaderboard import schema

    assert schema.validate is json_schema.validate
    assert schema.unsupported_keywords is json_schema.unsupported_keywords
    assert schema.SUPPORTED is json_schema.SUPPORTED


# --------------------------------------------------------------------------------------------------
# the TypedDicts describe the real documents


def _conforms(value: Any, tp: Any, path: str = "") -> list[str]:
    """Where ``value`` breaks the type ``tp`` (TypedDicts, dict/list, unions, Literal, plain types)."""
    where = path or "/"
    if tp is Any:
        return []
    if is_typeddict(tp):
        if not isinstance(value, dict):
            return [f"{where}: expected {tp.__name__}, got {type(value).__name__}"]
        hints = get_type_hints(tp)
        problems = [f"{path}/{k}: missing" for k in sorted(tp.__required_keys__) if k not in value]
        problems += [f"{path}/{k}: not in {tp.__name__}" for k in value if k not in hints]
        for k, v in value.items():
            if k in hints:
                problems += _conforms(v, hints[k], f"{path}/{k}")
        return problems
    origin, args = get_origin(tp), get_args(tp)
    if origin in (Union, types.UnionType):
        tries = [_conforms(value, a, path) for a in args]
        return [] if any(not t for t in tries) else min(tries, key=len)
    if origin is Literal:
        return [] if value in args else [f"{where}: {value!r} not one of {args}"]
    if origin is dict:
        if not isinstance(value, dict):
            return [f"{where}: expected dict, got {type(value).__name__}"]
        return [p for k, v in value.items() for p in _conforms(v, args[1], f"{path}/{k}")]
    if origin is list:
        if not isinstance(value, list):
            return [f"{where}: expected list, got {type(value).__name__}"]
        return [p for i, v in enumerate(value) for p in _conforms(v, args[0], f"{path}/{i}")]
    if tp is type(None):
        return [] if value is None else [f"{where}: expected None, got {value!r}"]
    if tp is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif tp is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, tp)
    return [] if ok else [f"{where}: expected {tp.__name__}, got {type(value).__name__} {value!r}"]


def test_typeddicts_describe_a_real_report(real_report):
    assert _conforms(real_report, documents.Report) == []
    assert _conforms(results_document(real_report), documents.Results) == []
    for split in real_report["splits"].values():
        assert _conforms(split, documents.SplitReport) == []
    assert _conforms({"value": None, "ci": None}, documents.Statistic) == []
    assert _conforms({"value": 1.0}, documents.Statistic) == ["/ci: missing"]


def test_typeddicts_and_the_schema_agree():
    """Every fixed-shape object of RESULTS_SCHEMA has the keys (and required keys) of its TypedDict."""
    def walk(schema: dict, tp: Any, path: str):
        if get_origin(tp) in (Union, types.UnionType):
            tp = next(a for a in get_args(tp) if a is not type(None))
        if is_typeddict(tp):
            assert schema.get("additionalProperties") is False, path
            hints = get_type_hints(tp)
            assert set(schema["properties"]) == set(hints), path
            assert set(schema["required"]) == set(tp.__required_keys__), path
            for k, sub in schema["properties"].items():
                walk(sub, hints[k], f"{path}/{k}")
        elif get_origin(tp) is dict and isinstance(schema.get("additionalProperties"), dict):
            walk(schema["additionalProperties"], get_args(tp)[1], f"{path}/*")

    walk(results_schema.RESULTS_SCHEMA, documents.Results, "")


def test_typeddicts_describe_the_committed_leaderboard_entries():
    entries = sorted((ROOT / "leaderboard" / "entries").glob("*/*.json"))
    assert entries
    kinds = set()
    for path in entries:
        entry = json.loads(path.read_text())
        kinds.add(entry["kind"])
        tp = documents.EntryReproduced if entry["kind"] == "reproduced" else documents.EntryReported
        assert _conforms(entry, tp) == [], path
    assert kinds == {"reproduced", "reported"}


def test_typeddicts_describe_a_real_build_report(tmp_path):
    from _build_fixtures import make_benchmark

    from mom_bench.dataset import build_benchmark

    extra = [{"id": "gone", "label": 0, "generator": "real", "source": "real", "path": "audio/nothing.wav",
              "artist": "z"},
             {"id": "copy_of_real_003", "label": 0, "generator": "real", "source": "real",
              "path": "audio/real_003.wav", "artist": "someone else"}]
    proto, table = make_benchmark(tmp_path, n_real=8, n_fake=8, n_ood=4, seconds=0.5, extra_rows=extra)
    result = build_benchmark(str(proto), tmp_path / "out", source_options={"csv": str(table)}, progress=False)
    rep = json.loads(result.report_path.read_text())
    assert _conforms(rep, documents.BuildReport) == []
    assert rep["leakage_audit"]["duplicates_merged"], "the fixture should exercise merged groups"
    assert {r["status"] for r in rep["rows"]} >= {"written", "missing"}


if __name__ == "__main__":  # regenerate the committed report (only when a change of numbers is intended)
    rep = report()
    rep.pop("definitions")
    GOLDEN.parent.mkdir(exist_ok=True)
    GOLDEN.write_text(json.dumps(rep, indent=1) + "\n")
    print(GOLDEN)
