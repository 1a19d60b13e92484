"""baselines/ recipes and the committed leaderboard/: valid, consistent with the code, numbers as published."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from mom_bench.leaderboard import schema
from mom_bench.leaderboard.reported import import_reported, load_recipes, reported_entries
from mom_bench.leaderboard.submit import load_meta
from mom_bench.leaderboard.validate import validate_folder

REPO = Path(__file__).resolve().parents[1]
BASELINES = REPO / "baselines"
pytestmark = pytest.mark.skipif(not BASELINES.is_dir(), reason="no baselines/ folder in this checkout")

# Published numbers, as the papers give them (MoM arXiv 2512.00621; SONICS arXiv 2408.14080).
PUBLISHED = {
    ("mom", "clam-paper"): {"f1": 0.925},
    ("sonics", "clam-paper"): {"f1": 0.993},
    ("mom", "spectttra-mom-paper"): {"f1": 0.869},
    ("sonics", "spectttra-alpha-5s-paper"): {"f1": 0.78, "recall": 0.69, "specificity": 0.94},
    ("sonics", "spectttra-beta-5s-paper"): {"f1": 0.78, "recall": 0.69, "specificity": 0.94},
    ("sonics", "spectttra-gamma-5s-paper"): {"f1": 0.76, "recall": 0.66, "specificity": 0.92},
    ("sonics", "spectttra-alpha-120s-paper"): {"f1": 0.97, "recall": 0.96, "specificity": 0.99},
    ("sonics", "spectttra-beta-120s-paper"): {"f1": 0.92, "recall": 0.86, "specificity": 0.99},
    ("sonics", "spectttra-gamma-120s-paper"): {"f1": 0.88, "recall": 0.79, "specificity": 0.99},
}
PER_GENERATOR = {
    ("mom", "spectttra-sonics-trained-mom-ood"): {"riffusion": {"f1": 0.535}, "ai_covers": {"f1": 0.509},
                                                 "suno_4": {"f1": 0.646}, "yue": {"f1": 0.688}},
    ("sonics", "spectttra-alpha-120s-paper"): {"suno_3": {"tpr": 0.992}, "suno_3.5": {"tpr": 1.0},
                                               "suno_2": {"tpr": 0.683}, "udio_32": {"tpr": 0.966},
                                               "udio_130": {"tpr": 1.0}},
}
REFERENCE_MODELS = {"clam", "clam-wca", "mert-only", "wav2vec2-only", "clam-mini", "clam-wca-mini", "mert-only-mini",
                    "wav2vec2-only-mini", "spectttra-mini", "clam-mini-random", "fakeprint", "stats-lr",
                    *(f"spectttra-{v}-{s}s" for v in ("alpha", "beta", "gamma") for s in (5, 120))}


def test_one_valid_recipe_per_reference_model():
    recipes = load_recipes(BASELINES)  # raises listing every schema problem
    assert {r["model"] for r in recipes.values()} == REFERENCE_MODELS
    for key, recipe in recipes.items():
        assert key == f"baselines/{recipe['model']}.yaml"


def test_recipes_match_the_registry_and_the_trainer():
    from mom_bench.models import registry
    from mom_bench.models.registry import recipe_for

    for key, recipe in load_recipes(BASELINES).items():
        spec = registry.resolve(recipe["model"])
        assert spec.name == recipe["model"], key
        model = recipe["hyperparameters"]["model"]
        assert model["config"] == json.loads(json.dumps(spec.full_config())), f"{key}: model config drifted"
        assert (model["sample_rate"], model["clip"]) == (spec.sample_rate, spec.clip), key
        trainer = recipe_for(spec).to_dict()
        for name, value in recipe["hyperparameters"]["training"].items():
            assert trainer[name] == value, f"{key}: training.{name} is {value!r}, the trainer uses {trainer[name]!r}"
        assert f"--model {spec.name}" in recipe["commands"]["train"], key


def test_published_numbers_are_the_papers():
    rows = {(e["benchmark"], e["slug"]): e for e in reported_entries(BASELINES)}
    for ident, numbers in PUBLISHED.items():
        summary = rows[ident]["summary"]
        for metric, value in numbers.items():
            assert summary[metric]["value"] == value and summary[metric]["ci"] is None, (ident, metric)
    for ident, gens in PER_GENERATOR.items():
        got = {g: {k: v["value"] for k, v in m.items()} for g, m in rows[ident]["summary"]["per_generator"].items()}
        assert got == gens, ident
    for entry in rows.values():
        assert entry["kind"] == "reported" and entry["citation"]["url"].startswith("https://arxiv.org/abs/")


def test_generator_ids_of_reported_rows_exist_in_the_protocols():
    from mom_bench.dataset import protocols

    for entry in reported_entries(BASELINES):
        known = {g.id for g in protocols.load(entry["benchmark"]).generators}
        assert set(entry["summary"].get("per_generator", {})) <= known, entry["slug"]


def test_recipe_submission_meta_is_valid_once_the_run_fills_it():
    for path in sorted(BASELINES.glob("*.yaml")):
        recipe = yaml.safe_load(path.read_text())
        filled = {**recipe["submission_meta"], "parameters": 1, "date": "2026-11-25", "benchmark_version": "1.0.0"}
        meta, problems = load_meta(filled)
        assert problems == [], (path.name, problems)
        # the file itself can be passed as --meta: its submission_meta section is read
        meta, problems = load_meta(path)
        assert meta["slug"] == recipe["model"]
        assert all("required but missing" in p for p in problems), problems


def test_committed_leaderboard_is_valid_and_up_to_date(tmp_path):
    root = REPO / "leaderboard"
    if not root.is_dir():
        pytest.skip("no leaderboard/ folder in this checkout")
    result = validate_folder(root, baselines_dir=BASELINES, recompute=False)
    assert result.ok, "\n".join(result.problems)
    # import-reported from the recipes reproduces the committed reported entries byte for byte
    import shutil

    shutil.copytree(root / "entries", tmp_path / "entries")
    import_reported(BASELINES, tmp_path)
    for path in sorted((root / "entries").glob("*/*.json")):
        if json.loads(path.read_text())["kind"] == "reported":
            assert (tmp_path / path.relative_to(root)).read_bytes() == path.read_bytes(), path
    for path in sorted((root / "entries").glob("*/*.json")):
        entry = json.loads(path.read_text())
        assert schema.validate(entry, schema.ENTRY_SCHEMAS[entry["kind"]]) == [], path
