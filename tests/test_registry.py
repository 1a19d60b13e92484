"""The registry: names, aliases, per-benchmark resolution, lazy listing, stated parameter counts, CLI."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from mom_bench.cli import main
from mom_bench.models import registry
from mom_bench.models.registry import UnknownModelError, create, list_models, resolve


def test_names_and_aliases_are_unique():
    names = [n for s in list_models() for n in (s.name, *s.aliases)]
    assert len(names) == len(set(names))
    assert {"clam", "clam-wca", "mert-only", "wav2vec2-only", "clam-mini", "clam-tiny",
            "spectttra-alpha-5s", "spectttra-gamma-120s", "spectttra-mini"} <= set(names)


def test_aliases_and_case_resolve_to_the_row():
    assert resolve("CLAM").name == "clam"
    assert resolve("w2v-only").name == "wav2vec2-only"
    assert resolve("spectttra").name == "spectttra-alpha-120s"
    assert resolve(" spectttra-b-5s ").name == "spectttra-beta-5s"


@pytest.mark.parametrize("name,benchmark,expected", [
    ("clam", "mom-mini", "clam-mini"), ("clam", "mom", "clam"), ("clam", "sonics", "clam"), ("clam", None, "clam"),
    ("mert", "mom-mini", "mert-only-mini"), ("clam-wca", "mom-mini", "clam-wca-mini"),
    ("spectttra", "mom-mini", "spectttra-mini"), ("spectttra", "sonics", "spectttra-alpha-120s"),
    # precise names and -paper aliases keep the published configuration
    ("clam-paper", "mom-mini", "clam"), ("spectttra-alpha-5s", "mom-mini", "spectttra-alpha-5s"),
    ("clam-mini", "mom", "clam-mini"),
])
def test_benchmark_specific_resolution(name, benchmark, expected):
    assert resolve(name, benchmark).name == expected


def test_unknown_name_suggests_close_ones():
    with pytest.raises(KeyError) as info:
        resolve("calm")
    assert isinstance(info.value, UnknownModelError)
    assert "Did you mean 'clam'" in str(info.value)
    with pytest.raises(UnknownModelError, match="spectttra"):
        resolve("spectra-alpha-5s")
    with pytest.raises(UnknownModelError) as info:
        resolve("zzzzzz")
    assert "Did you mean" not in str(info.value)


def test_build_states_the_resolved_configuration():
    model = create("clam", benchmark="mom-mini")
    assert model.config["model"] == "clam-mini" and model.name == "clam-mini"
    assert model.sample_rate == 24000 and str(model.clip) == "first:10"
    assert json.loads(json.dumps(model.config)) == model.config


def test_paper_rows_are_marked_and_mini_rows_are_not():
    assert resolve("clam").paper and resolve("spectttra-alpha-120s").paper
    for name in ("clam-mini", "clam-tiny", "spectttra-mini"):
        spec = resolve(name)
        assert not spec.paper
        assert "NOT the" in spec.description or "TEST ONLY" in spec.description


def test_stated_parameter_counts_match_the_built_architecture():
    # Counted on the meta device (no memory, no download): the real paper architecture, encoders included.
    for spec in list_models():
        if spec.params is None:
            continue
        stated = spec.params
        counted = type(spec)(**{**spec.__dict__, "params": None}).parameter_count()
        assert counted == stated, spec.name
    # CLAM = two base encoders (94.4 M each) + the ~5.51 M head (the MoM paper, arXiv 2512.00621: ~194 M)
    assert round(resolve("clam").params / 1e6) == 194


def test_listing_imports_no_model_code():
    code = ("import sys; from mom_bench.models import registry; registry.list_models(); "
            "registry.resolve('clam', 'mom-mini'); "
            "print(sorted(m for m in ('torch', 'transformers', 'mom_bench.models.clam') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_models_command_lists_every_row_with_params_rate_and_clip():
    result = CliRunner().invoke(main, ["models"])
    assert result.exit_code == 0, result.output
    for spec in list_models():
        assert spec.name in result.output
    line = next(l for l in result.output.splitlines() if l.startswith("clam "))
    assert "194.26 M" in line and "24000" in line and "first:90" in line
    rows = json.loads(CliRunner().invoke(main, ["models", "--json"]).output)
    assert {r["name"] for r in rows} == {s.name for s in list_models()}


def test_models_command_shows_resolution_and_suggests_on_typos():
    result = CliRunner().invoke(main, ["models", "clam", "--benchmark", "mom-mini", "--json"])
    assert result.exit_code == 0, result.output
    row = json.loads(result.output)
    assert row["name"] == "clam-mini" and row["requested"] == "clam" and row["config"]["model"] == "clam-mini"
    result = CliRunner().invoke(main, ["models", "calm"])
    assert result.exit_code == 2 and "Did you mean 'clam'" in result.output


def test_register_refuses_clashing_names():
    spec = resolve("clam-tiny")
    with pytest.raises(ValueError, match="already registered"):
        registry.register(type(spec)(**{**spec.__dict__, "aliases": ()}))
