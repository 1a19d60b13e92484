"""The detector validator (`mom-bench models --check`): registry rows pass it, contract breakers fail it, each
with the reason on its line; through the Python API and the real command line."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from mom_bench.core.errors import MomBenchError
from mom_bench.models import registry
from mom_bench.models.check import CheckReport, TargetError, check_detector, check_registry, resolve_target
from mom_bench.models.checkpoints import CheckpointError

REPO = Path(__file__).resolve().parents[1]
MODULE = "momcheck_fixture_detectors"

# Detectors written to a module of their own, as a user's would be, so the CLI can import them by name.
DETECTORS = textwrap.dedent('''
    import torch


    class Good(torch.nn.Module):
        """Log energy: per item, finite for silence, any length."""

        sample_rate = 16000
        clip = "first:3"

        def __init__(self):
            super().__init__()
            self.scale = torch.nn.Parameter(torch.tensor(0.5))

        def score(self, wave):
            return self.scale * torch.log10(wave.pow(2).mean(dim=-1) + 1e-8)

        def forward(self, wave):
            return self.score(wave)


    class BatchMean(Good):
        """Subtracts the batch mean: an item's score depends on its batch-mates."""

        def forward(self, wave):
            s = self.score(wave)
            return s - s.mean()


    class Column(Good):
        def forward(self, wave):
            return self.score(wave)[:, None]


    class TwoLogits(Good):
        def forward(self, wave):
            s = self.score(wave)
            return torch.stack([-s, s], dim=-1)


    class NonFinite(Good):
        """log(0) on silence."""

        def forward(self, wave):
            return torch.log(wave.pow(2).mean(dim=-1))


    class Noisy(Good):
        """Random in eval mode too."""

        def forward(self, wave):
            return self.score(wave) + torch.rand(wave.shape[0])


    class Raises(Good):
        def forward(self, wave):
            raise RuntimeError("kaboom in forward")


    class NeedsArgs(Good):
        def __init__(self, width):
            super().__init__()


    def make_good():
        return Good()


    def plain(wave):
        return wave.abs().mean(dim=-1)


    plain.sample_rate = 8000
    plain.clip = "full"

    instance = Good()

    def not_a_detector():
        return 42
''')


@pytest.fixture(scope="module")
def detectors_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("user_detectors")
    (folder / f"{MODULE}.py").write_text(DETECTORS)
    sys.path.insert(0, str(folder))
    try:
        yield folder
    finally:
        sys.path.remove(str(folder))
        sys.modules.pop(MODULE, None)


def by_name(report: CheckReport) -> dict[str, object]:
    return {r.name: r for r in report.results}


# --------------------------------------------------------------------------------------------------
# registry rows

FAST_ROWS = ["clam-tiny", "clam-mini", "clam-wca-mini", "mert-only-mini", "wav2vec2-only-mini", "spectttra-mini",
             "spectttra-alpha-5s", "fakeprint", "stats-lr",
             "clam-mini-random"]
# The 120 s rows refuse shorter input, so they are fed their full clip (~10 s apiece on a 2-core CPU); the other
# 5 s variants run the same code as alpha with other patch shapes (~1-4 s apiece).
SLOW_ROWS = ["spectttra-beta-5s", "spectttra-gamma-5s", "spectttra-alpha-120s", "spectttra-beta-120s",
             "spectttra-gamma-120s"]


@pytest.mark.parametrize("name", FAST_ROWS + [pytest.param(n, marks=pytest.mark.slow) for n in SLOW_ROWS])
def test_every_registry_row_that_builds_offline_passes(name):
    model = registry.create(name)
    model.train()
    report = check_detector(model, target=name)
    assert report.ok, str(report)
    assert model.training, "the model's training flag is restored"
    results = by_name(report)
    assert all(results[n].verdict == "PASS" for n in ("output shape", "finite values", "determinism",
                                                        "batch independence", "save/load")), str(report)
    assert "registry.load" in results["save/load"].detail
    assert str(report).splitlines()[-1].startswith(f"PASS {name}: ")


def test_the_rows_covered_above_are_all_that_build_without_pretrained_weights():
    # A new offline-buildable row must be added to FAST_ROWS or SLOW_ROWS; the others need Hub checkpoints.
    offline = set(FAST_ROWS) | set(SLOW_ROWS)
    others = [s for s in registry.list_models(include_plugins=False) if s.name not in offline]
    assert others and all(s.paper and s.config.get("encoders") for s in others), [s.name for s in others]


def test_a_paper_row_without_its_pretrained_encoders_is_a_skip_not_a_failure(monkeypatch):
    rows = [registry.resolve("clam"), registry.resolve("clam-tiny")]
    monkeypatch.setattr(registry, "list_models", lambda include_plugins=True: rows)
    clam, tiny = list(check_registry())
    assert tiny.ok and not tiny.skipped
    try:
        registry.create("clam")
    except CheckpointError:
        assert clam.skipped and clam.ok, str(clam)
        assert clam.summary().startswith("SKIP clam: CheckpointError: ") and "MERT" in clam.summary()
    else:  # the encoders are in this machine's Hugging Face cache: then the row is checked for real
        assert clam.ok and not clam.skipped, str(clam)


# --------------------------------------------------------------------------------------------------
# contract breakers, through the Python function


def test_batch_mates_leaking_into_a_score_fail_batch_independence_only(detectors_dir):
    report = check_detector(resolve_target(f"{MODULE}:BatchMean"))
    assert not report.ok
    assert [r.name for r in report.failed] == ["batch independence"], str(report)
    line = by_name(report)["batch independence"].line()
    assert line.startswith("FAIL batch independence: item ") and " alone " in line and "vs in a batch" in line
    assert "> tol" in line and "batch-mates" in line
    assert report.summary() == "FAIL BatchMean: 1 of 8 checks failed (batch independence)"


@pytest.mark.parametrize("cls, shape", [("Column", "[3, 1]"), ("TwoLogits", "[3, 2]")])
def test_a_wrong_output_shape_fails_with_the_shape_it_gave(detectors_dir, cls, shape):
    report = check_detector(resolve_target(f"{MODULE}:{cls}"), target=cls)
    results = by_name(report)
    assert results["output shape"].line() == f"FAIL output shape: {shape} float32, expected [3] (one logit per " \
                                             "item of a batch of 3)"
    assert not results["batch independence"].ok and f"gave shape {shape}" in results["batch independence"].detail
    assert results["finite values"].ok and results["determinism"].ok  # the other checks still ran
    assert not report.ok and report.summary().startswith(f"FAIL {cls}: ")


def test_non_finite_logits_fail_naming_the_input(detectors_dir):
    report = check_detector(resolve_target(f"{MODULE}:NonFinite"), target="NonFinite")
    assert [r.name for r in report.failed] == ["finite values"], str(report)
    assert by_name(report)["finite values"].line() == "FAIL finite values: -inf for silence"


def test_randomness_in_eval_mode_fails_determinism(detectors_dir):
    report = check_detector(resolve_target(f"{MODULE}:Noisy"))
    assert "determinism" in [r.name for r in report.failed], str(report)
    assert "same input twice" in by_name(report)["determinism"].detail


def test_a_forward_that_raises_fails_every_check_that_needs_it_with_the_exception(detectors_dir):
    report = check_detector(resolve_target(f"{MODULE}:Raises"))
    lines = report.lines()
    assert len(lines) == 8 and lines[0].startswith("PASS contract")
    for line in lines[1:7]:
        assert line.startswith("FAIL ") and "RuntimeError: kaboom in forward" in line, line
    assert lines[7].startswith("SKIP save/load")


def test_a_plain_callable_passes_and_has_nothing_to_round_trip(detectors_dir):
    report = check_detector(resolve_target(f"{MODULE}:plain"))
    assert report.ok, str(report)
    assert by_name(report)["save/load"].verdict == "SKIP"
    assert "8000 Hz, clip full, plain callable" in by_name(report)["contract"].detail
    assert "odd lengths" not in [r.name for r in report.failed]


def test_no_sample_rate_fails_every_check_and_says_why():
    model = torch.nn.Identity()
    report = check_detector(model)
    assert not report.ok
    assert report.lines()[0] == "FAIL contract: sample_rate must be an int from 1000 to 384000 Hz, got None"
    assert all("cannot run: sample_rate" in line for line in report.lines()[1:7])


def test_the_callers_random_state_is_left_alone(detectors_dir):
    torch.manual_seed(123)
    state = torch.get_rng_state()
    check_detector(resolve_target(f"{MODULE}:Noisy"), seed=7)
    assert torch.equal(torch.get_rng_state(), state)


# --------------------------------------------------------------------------------------------------
# resolving what the user names


def test_targets_resolve_from_registry_names_modules_and_saved_folders(detectors_dir, tmp_path):
    assert resolve_target("clam-tiny").name == "clam-tiny"
    assert resolve_target("clam", benchmark="mom-mini").name == "clam-mini"
    assert type(resolve_target(f"{MODULE}:Good")).__name__ == "Good"
    assert type(resolve_target(f"{MODULE}:make_good")).__name__ == "Good"
    module = sys.modules[MODULE]
    assert resolve_target(f"{MODULE}:instance") is module.instance
    assert resolve_target(f"{MODULE}:plain") is module.plain
    saved = tmp_path / "saved"
    registry.create("clam-tiny").save_pretrained(saved)
    loaded = resolve_target(str(saved))
    assert loaded.name == "clam-tiny"
    assert check_detector(loaded).ok


@pytest.mark.parametrize("spec, words", [
    ("clam-tinny", ["unknown model 'clam-tinny'", "Did you mean", "module:Class"]),
    ("no_such_module_xyz:Thing", ["cannot import 'no_such_module_xyz'", "PYTHONPATH"]),
    (f"{MODULE}:Missing", [f"{MODULE} has no attribute 'Missing'"]),
    (f"{MODULE}:NeedsArgs", ["calling it with no arguments raised TypeError", "width"]),
    (f"{MODULE}:not_a_detector", ["gave a int, not a detector", "no sample_rate"]),
    ("./no/such/folder", ["no such folder"]),
    (f"{MODULE}:", ["give module:Class or module:function"]),
])
def test_targets_that_name_no_detector_say_what_is_wrong(detectors_dir, spec, words):
    with pytest.raises(TargetError) as info:
        resolve_target(spec)
    assert isinstance(info.value, MomBenchError)
    for word in words:
        assert word in str(info.value), str(info.value)


def test_a_registry_class_named_directly_points_at_its_registry_name():
    with pytest.raises(TargetError, match="check them by registry name"):
        resolve_target("mom_bench.models.clam:ClamDetector")


# --------------------------------------------------------------------------------------------------
# the real command line


def run_check(*args: str, pythonpath: Path, home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "MOM_BENCH_HOME": str(home),
           "PYTHONPATH": os.pathsep.join([str(pythonpath), str(REPO)])}
    return subprocess.run([sys.executable, "-m", "mom_bench", "models", "--check", *args], capture_output=True,
                          text=True, env=env, cwd=pythonpath, timeout=600)


def test_cli_check_fails_a_batch_dependent_detector_with_the_reason(detectors_dir, tmp_path):
    out = run_check(f"{MODULE}:BatchMean", pythonpath=detectors_dir, home=tmp_path / "home")
    assert out.returncode == 1, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == 9, out.stdout
    assert any(line.startswith("FAIL batch independence: item ") and "batch-mates" in line for line in lines)
    assert lines[-1] == f"FAIL {MODULE}:BatchMean: 1 of 8 checks failed (batch independence)"


def test_cli_check_fails_a_wrong_shape(detectors_dir, tmp_path):
    out = run_check(f"{MODULE}:TwoLogits", pythonpath=detectors_dir, home=tmp_path / "home")
    assert out.returncode == 1, out.stdout + out.stderr
    assert "FAIL output shape: [3, 2] float32, expected [3]" in out.stdout


def test_cli_check_passes_a_good_detector_as_json(detectors_dir, tmp_path):
    out = run_check(f"{MODULE}:Good", "--json", pythonpath=detectors_dir, home=tmp_path / "home")
    assert out.returncode == 0, out.stdout + out.stderr
    data = json.loads(out.stdout)
    assert data["target"] == f"{MODULE}:Good" and data["verdict"] == "PASS"
    assert [c["verdict"] for c in data["checks"]] == ["PASS"] * 7 + ["SKIP"]


def test_cli_check_of_something_that_is_no_detector_is_a_one_line_error(detectors_dir, tmp_path):
    out = run_check(f"{MODULE}:not_a_detector", pythonpath=detectors_dir, home=tmp_path / "home")
    assert out.returncode == 2, out.stdout + out.stderr
    assert out.stderr.strip().splitlines()[-1].startswith(f"error: {MODULE}:not_a_detector gave a int, not a "
                                                          "detector")


@pytest.mark.slow
def test_cli_check_of_every_row_passes_offline_and_skips_the_paper_clam_rows(detectors_dir, tmp_path):
    out = run_check(pythonpath=detectors_dir, home=tmp_path / "home")
    assert out.returncode == 0, out.stdout + out.stderr
    summaries = {line.split()[1].rstrip(":"): line.split()[0] for line in out.stdout.splitlines()
                 if line[:4] in ("PASS", "SKIP", "FAIL") and not line.startswith(("PASS:", "FAIL:"))}
    for name in FAST_ROWS + SLOW_ROWS:
        assert summaries[name] == "PASS", out.stdout
    for name in ("clam", "clam-wca", "mert-only", "wav2vec2-only"):
        assert summaries[name] in ("SKIP", "PASS"), out.stdout
    assert out.stdout.splitlines()[-1].startswith("PASS: ") and " 0 failed" in out.stdout.splitlines()[-1]


# --------------------------------------------------------------------------------------------------
# Values a user module declares are bounded where they enter: evaluate names them, never a damaged dataset

BOUNDS_MODULE = "momcheck_bounds_fixture"


@pytest.fixture
def bounds_module(tmp_path):
    (tmp_path / f"{BOUNDS_MODULE}.py").write_text(textwrap.dedent('''
        import torch


        class Energy(torch.nn.Module):
            sample_rate = 16000
            clip = "first:2"

            def forward(self, wave):
                return torch.log10(wave.pow(2).mean(dim=-1) + 1e-8)


        class HugeRate(Energy):
            sample_rate = 10**9


        class OneHertz(Energy):
            sample_rate = 1


        class NanClip(Energy):
            clip = "first:nan"


        class TinyClip(Energy):
            clip = "first:1e-300"


        class InfClip(Energy):
            clip = "first:inf"
    '''))
    sys.path.insert(0, str(tmp_path))
    try:
        yield __import__(BOUNDS_MODULE)
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop(BOUNDS_MODULE, None)


@pytest.mark.parametrize("cls, words", [
    ("HugeRate", "sample_rate must be an int from 1000 to 384000 Hz, got 1000000000"),
    ("OneHertz", "sample_rate must be an int from 1000 to 384000 Hz, got 1"),
    ("NanClip", "'first:nan'.*must be from 0.01 to 1800 s"),
    ("TinyClip", "'first:1e-300'.*must be from 0.01 to 1800 s"),
    ("InfClip", "'first:inf'.*must be from 0.01 to 1800 s"),
])
def test_evaluate_refuses_a_module_declaring_an_absurd_rate_or_clip(bounds_module, loop_benchmark, tmp_path, cls,
                                                                     words):
    import mom_bench

    with pytest.raises(MomBenchError, match=words) as err:
        mom_bench.evaluate(getattr(bounds_module, cls)(), data_dir=loop_benchmark, out_dir=tmp_path / "out",
                           n_bootstrap=5, plots=False, progress=False)
    assert "rebuild" not in str(err.value)
    report = check_detector(getattr(bounds_module, cls)())
    assert not report.ok and re.search(words, report.lines()[0])
