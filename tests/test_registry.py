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
    assert model.sample_rate == 24000 and str(model.clip) == "first:3"  # mom-mini's clips
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
    line = next(text for text in result.output.splitlines() if text.startswith("clam "))
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


# --- the generic registry every named thing uses (mom_bench.core.registry) -------------------------------------

def _colours():
    from mom_bench.core.registry import Registry

    return Registry("colour", {"red": "mom_bench.core.errors:MomBenchError", "green": 2}, aliases={"rot": "red"},
                    normalise=lambda n: n.strip().lower())


def test_a_registry_resolves_aliases_and_case_and_imports_a_lazy_target_only_when_loaded():
    from mom_bench.core.errors import MomBenchError

    colours = _colours()
    assert colours.get(" ROT ") == colours.get("red") == "mom_bench.core.errors:MomBenchError"
    assert colours.load("rot") is MomBenchError and colours.load("green") == 2
    assert colours.names() == ["red", "green"] and colours.names(aliases=True) == ["red", "green", "rot"]
    assert "Rot" in colours and "blue" not in colours and 3 not in colours


def test_an_unknown_name_is_a_keyerror_and_a_mom_bench_error_with_the_closest_name():
    from mom_bench.core.errors import MomBenchError, UnknownNameError

    with pytest.raises(UnknownNameError) as info:
        _colours().get("gren")
    assert isinstance(info.value, KeyError) and isinstance(info.value, MomBenchError)
    assert str(info.value) == "unknown colour 'gren' (did you mean 'green'?); known: red, green"
    with pytest.raises(KeyError, match=r"unknown colour 'zzz'; known: red, green$"):
        _colours().get("zzz")


def test_a_registry_refuses_a_name_or_alias_already_taken_and_a_copy_is_independent():
    colours = _colours()
    with pytest.raises(ValueError, match="colour name.s. already registered: rot"):
        colours.add("rot", 3)
    copy = colours.copy()
    copy.add("blue", 3, aliases=("blau",))
    assert "blau" in copy and "blau" not in colours


class _EntryPoint:
    def __init__(self, name, load):
        self.name, self.value, self.dist, self._load = name, f"pkg_{name}:ROWS", None, load

    def load(self):
        return self._load()


def test_plugins_join_a_registry_once_and_a_broken_one_is_a_plugin_error_naming_it(monkeypatch):
    import importlib.metadata

    from mom_bench.core.errors import PluginError
    from mom_bench.core.registry import Registry

    def unpack(loaded, where):
        if not isinstance(loaded, dict):
            raise PluginError(f"{where} loads to a {type(loaded).__name__}")
        return [(name, value, ()) for name, value in loaded.items()]

    calls = []
    eps = [_EntryPoint("good", lambda: calls.append(1) or {"violet": 7}),
           _EntryPoint("odd", lambda: ["not", "a", "dict"])]
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group: eps if group == "test.colours" else [])
    colours = Registry("colour", {"red": 1}, group="test.colours", unpack=unpack)
    with pytest.raises(PluginError, match=r"^test.colours plugin odd = pkg_odd:ROWS loads to a list$"):
        colours.names()
    assert not colours.plugins_loaded  # tried again at the next lookup, never skipped for good
    eps.pop()
    assert colours.get("violet") == 7 and colours.names() == ["red", "violet"]
    colours.names()
    assert calls == [1, 1]  # once per attempt, then never again
