"""Third-party detectors through the ``mom_bench.models`` entry-point group: a real distribution installed
into a temporary site folder is listed, passes ``mom-bench models --check``, and a broken one is a clear error;
a plugin that failed to load is retried on the next lookup, not skipped for good."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mom_bench.core.errors import MomBenchError
from mom_bench.models import registry
from mom_bench.models.registry import ModelSpec, PluginError

REPO = Path(__file__).resolve().parents[1]

PYPROJECT = textwrap.dedent('''
    [build-system]
    requires = ["setuptools>=61"]
    build-backend = "setuptools.build_meta"

    [project]
    name = "mbplugin-demo"
    version = "0.1.0"
    dependencies = ["mom-bench"]

    [project.entry-points."mom_bench.models"]
    energy = "mbplugin_demo.specs:SPECS"

    [tool.setuptools]
    packages = ["mbplugin_demo"]
''')

# The entry point names a light module (rows only) so that `mom-bench models` imports no torch code; the row's
# target is imported when the model is built.
SPECS = textwrap.dedent('''
    from mom_bench.models.registry import ModelSpec

    SPECS = [ModelSpec(name="energy-demo", aliases=("energy",), target="mbplugin_demo.model:EnergyDetector",
                       config={"scale": 0.5}, description="Demo plugin: scaled log energy of the first 4 s.",
                       sample_rate=16000, clip="first:4", paper=False, params=2)]
''')

MODEL = textwrap.dedent('''
    import torch

    from mom_bench.models.base import Detector


    class EnergyDetector(Detector):
        def __init__(self, config):
            super().__init__(config)
            self.scale = torch.nn.Parameter(torch.tensor(float(self.config["scale"])))
            self.bias = torch.nn.Parameter(torch.zeros(()))

        def forward(self, wave):
            energy = wave.float().pow(2).mean(dim=-1)
            return self.scale * torch.log10(energy + 1e-8) + self.bias
''')


@pytest.fixture(scope="module")
def demo_site(tmp_path_factory) -> Path:
    """``pip install --target`` of a real plugin project, offline (no index, no build isolation)."""
    pytest.importorskip("setuptools", reason="building the demo plugin needs setuptools")
    root = tmp_path_factory.mktemp("plugin_demo")
    src = root / "src"
    (src / "mbplugin_demo").mkdir(parents=True)
    (src / "pyproject.toml").write_text(PYPROJECT)
    (src / "mbplugin_demo" / "__init__.py").write_text("")
    (src / "mbplugin_demo" / "specs.py").write_text(SPECS)
    (src / "mbplugin_demo" / "model.py").write_text(MODEL)
    site = root / "site"
    out = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index",
                          "--quiet", "--target", str(site), str(src)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert (site / "mbplugin_demo-0.1.0.dist-info" / "entry_points.txt").is_file()
    return site


@pytest.fixture(scope="module")
def broken_site(tmp_path_factory) -> Path:
    """An installed distribution (hand-written dist-info) whose entry point imports a missing dependency."""
    site = tmp_path_factory.mktemp("plugin_broken")
    (site / "mbplugin_broken").mkdir()
    (site / "mbplugin_broken" / "__init__.py").write_text("import mbplugin_missing_dependency\n\nSPECS = []\n")
    info = site / "mbplugin_broken-0.2.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: mbplugin-broken\nVersion: 0.2.0\n")
    (info / "entry_points.txt").write_text("[mom_bench.models]\nbroken-row = mbplugin_broken:SPECS\n")
    return site


def run_cli(*args: str, site: Path, home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "MOM_BENCH_HOME": str(home),
           "PYTHONPATH": os.pathsep.join([str(site), str(REPO)])}
    return subprocess.run([sys.executable, "-m", "mom_bench", *args], capture_output=True, text=True, env=env,
                          cwd=home.parent, timeout=300)


def test_an_installed_plugin_row_is_listed(demo_site, tmp_path):
    out = run_cli("models", "--json", site=demo_site, home=tmp_path / "home")
    assert out.returncode == 0, out.stdout + out.stderr
    rows = {r["name"]: r for r in json.loads(out.stdout)}
    assert rows["energy-demo"]["aliases"] == ["energy"]
    assert rows["energy-demo"]["class"] == "mbplugin_demo.model:EnergyDetector"
    assert rows["energy-demo"]["params"] == 2 and "clam-mini" in rows  # beside the built-in rows


def test_an_installed_plugin_row_passes_the_check(demo_site, tmp_path):
    out = run_cli("models", "--check", "energy", site=demo_site, home=tmp_path / "home")
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    assert lines[-1] == "PASS energy: 8 checks passed", out.stdout
    assert "PASS save/load: reloaded with mom_bench.models.registry.load" in out.stdout
    assert "PASS input length: 64000 samples (4 s at 16000 Hz, the clip length)" in out.stdout


def test_a_plugin_that_fails_to_import_is_a_clear_error_naming_it(broken_site, tmp_path):
    out = run_cli("models", site=broken_site, home=tmp_path / "home")
    assert out.returncode == 2, out.stdout + out.stderr
    message = out.stderr.strip().splitlines()[-1]
    assert message.startswith("error: mom_bench.models plugin broken-row = mbplugin_broken:SPECS (package "
                              "mbplugin-broken 0.2.0) failed to load: ModuleNotFoundError: "), message
    assert "mbplugin_missing_dependency" in message and "uninstall" in message


# --------------------------------------------------------------------------------------------------
# loading semantics, in process


class FakeEntryPoint:
    """What importlib.metadata yields, with a load() the test controls."""

    dist = None

    def __init__(self, name: str, load):
        self.name, self.value, self._load = name, f"fake_{name}:SPECS", load

    def load(self):
        return self._load()


def _spec(name: str) -> ModelSpec:
    return ModelSpec(name=name, aliases=(), target="fake:Detector", config={}, description="fake",
                     sample_rate=16000, clip="first:1", paper=False, params=1)


@pytest.fixture
def fresh_registry(monkeypatch):
    """A registry that has loaded no plugin yet, with its own list of rows."""
    monkeypatch.setattr(registry, "MODELS", registry.MODELS.copy())
    monkeypatch.setattr(registry.MODELS, "plugins_loaded", False)


def _use_entry_points(monkeypatch, eps):
    import importlib.metadata

    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group: list(eps) if group == "mom_bench.models"
                        else [])


def test_a_failed_plugin_is_retried_and_the_rows_loaded_before_it_are_not_registered_twice(
        monkeypatch, fresh_registry):
    attempts = []

    def flaky():
        attempts.append(1)
        if len(attempts) == 1:
            raise ImportError("a dependency is missing")
        return _spec("flaky-row")

    good = [_spec("good-a"), _spec("good-b")]
    _use_entry_points(monkeypatch, [FakeEntryPoint("good", lambda: good), FakeEntryPoint("flaky", flaky)])
    with pytest.raises(PluginError) as info:
        registry.list_models()
    assert isinstance(info.value, MomBenchError)
    assert str(info.value).startswith("mom_bench.models plugin flaky = fake_flaky:SPECS failed to load: "
                                      "ImportError: a dependency is missing")
    assert registry.MODELS.plugins_loaded is False
    names = [s.name for s in registry.list_models()]  # the retry loads it; re-registering good-* is no clash
    assert names.count("good-a") == names.count("good-b") == names.count("flaky-row") == 1
    assert registry.MODELS.plugins_loaded is True and len(attempts) == 2
    assert registry.resolve("flaky-row").name == "flaky-row"
    registry.list_models()
    assert len(attempts) == 2  # loaded once, for good


@pytest.mark.parametrize("loads, words", [
    (lambda: {"name": "dict-row"}, ["loads to a dict", "ModelSpec or a list"]),
    (lambda: _spec("clam"), ["model name(s) already registered: clam"]),
])
def test_a_plugin_that_loads_no_usable_rows_is_a_plugin_error(monkeypatch, fresh_registry, loads, words):
    _use_entry_points(monkeypatch, [FakeEntryPoint("odd", loads)])
    with pytest.raises(PluginError) as info:
        registry.resolve("clam-mini")
    assert str(info.value).startswith("mom_bench.models plugin odd = fake_odd:SPECS")
    for word in words:
        assert word in str(info.value)
