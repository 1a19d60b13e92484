"""Decode workers change nothing but speed; reduced precision is opt-in, keyed in the feature cache, stated in
results.json, and never changes the caller's model."""
from __future__ import annotations

import json

import pytest
import torch

from mom_bench.core import precision as P
from mom_bench.dataset import read
from mom_bench.loop.evaluation import evaluate
from mom_bench.loop.inference import fill_features, split_logits
from mom_bench.models import registry
from mom_bench.models.cache import FeatureCache


def test_decode_workers_give_the_same_features_and_scores(loop_benchmark, tmp_path, monkeypatch):
    model = registry.create("clam-tiny").eval()
    folders = {}
    for workers in (0, 2):
        monkeypatch.setenv("MOM_BENCH_HOME", str(tmp_path / f"home-{workers}"))
        folder, computed = fill_features(model, loop_benchmark, "train", torch.device("cpu"), 5,
                                         num_workers=workers, progress=False)
        assert computed == read.num_rows(loop_benchmark, "train")
        folders[workers] = FeatureCache(tmp_path / f"home-{workers}" / "cache" / "features").load(folder)
    assert folders[0].keys() == folders[2].keys()
    for item, streams in folders[0].items():
        for stream, tensor in streams.items():
            assert torch.equal(tensor, folders[2][item][stream]), f"{item} {stream}"

    # a waveform model scored with decode workers: the same logits, in stored order
    wave_model = registry.create("spectttra-mini").eval()
    inline = split_logits(wave_model, loop_benchmark, "test_id", batch_size=3, progress=False)
    ahead = split_logits(wave_model, loop_benchmark, "test_id", batch_size=3, progress=False, num_workers=2)
    assert torch.equal(inline, ahead) and len(ahead) == read.num_rows(loop_benchmark, "test_id")


def test_bf16_has_its_own_cache_and_is_stated_in_results(loop_benchmark, loop_run, tmp_path):
    cpu = torch.device("cpu")
    model = registry.load(loop_run / "best")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    fp32_folder, _ = fill_features(model, loop_benchmark, "test_id", cpu, 4, progress=False)
    bf16_folder, computed = fill_features(model, loop_benchmark, "test_id", cpu, 4, precision="bf16", progress=False)
    assert bf16_folder != fp32_folder and computed == read.num_rows(loop_benchmark, "test_id")
    assert json.loads((bf16_folder / "key.json").read_text())["precision"] == "bf16"
    assert "precision" not in json.loads((fp32_folder / "key.json").read_text())  # old fp32 caches stay valid
    # the caller's model is untouched: fp32 weights, same values
    assert all(torch.equal(v, before[k]) and v.dtype == before[k].dtype for k, v in model.state_dict().items())

    cache = FeatureCache()
    full, half = cache.load(fp32_folder), cache.load(bf16_folder)
    for item in full:
        for stream, ref in full[item].items():
            got = half[item][stream]
            assert got.dtype == torch.float32 and not torch.equal(got, ref)
            assert float((got - ref).norm() / ref.norm()) < 0.05

    result = evaluate(loop_run / "best", data_dir=loop_benchmark, out_dir=tmp_path / "bf16", precision="bf16",
                      n_bootstrap=20, plots=False, progress=False)
    assert result.results["model"]["precision"] == "bf16"
    saved = json.loads((tmp_path / "bf16" / "results.json").read_text())
    assert saved["model"]["precision"] == "bf16" and saved["model"]["world_size"] == 1
    plain = evaluate(loop_run / "best", data_dir=loop_benchmark, out_dir=tmp_path / "fp32", n_bootstrap=20,
                     plots=False, progress=False)
    assert plain.results["model"]["precision"] == "fp32"


def test_precision_names_and_devices():
    assert P.resolve(None, "cpu") == "fp32" and P.resolve("BF16", "cpu") == "bf16"
    assert P.resolve("auto", "cpu") == ("bf16" if P.cpu_has_native_bf16() else "fp32")
    with pytest.raises(P.PrecisionError, match="fp16 needs a CUDA device"):
        P.resolve("fp16", "cpu")
    with pytest.raises(P.PrecisionError, match="unknown precision 'int8'"):
        P.resolve("int8", "cpu")


def test_train_precision_trains_on_the_extracted_features_and_evaluate_says_when_it_scores_at_another(
        loop_benchmark, tmp_path, monkeypatch):
    """The documented GPU recipe: `extract --precision bf16`, then `train --precision bf16` trains on those
    features (none extracted again in fp32), records bf16, and evaluate at fp32 says that it differs."""
    from click.testing import CliRunner

    from mom_bench.cli import main
    from mom_bench.loop.runs import TRAIN_CONFIG
    from tests._fixtures_loop import TINY_RECIPE

    home = tmp_path / "home"
    monkeypatch.setenv("MOM_BENCH_HOME", str(home))
    model = registry.create("clam-tiny").eval()
    for split in ("train", "validation"):  # what `extract --precision bf16` leaves in the cache
        fill_features(model, loop_benchmark, split, torch.device("cpu"), 16, precision="bf16", progress=False)
    cached = home / "cache" / "features"

    def files() -> dict[str, int]:
        return {str(p.relative_to(cached)): p.stat().st_mtime_ns for p in cached.rglob("*") if p.is_file()}

    before = files()
    config = tmp_path / "recipe.json"
    config.write_text(json.dumps(TINY_RECIPE))
    run = tmp_path / "run"
    args = ["train", "--model", "clam-tiny", "--data", str(loop_benchmark), "--out", str(run), "--config", str(config)]
    r = CliRunner().invoke(main, [*args, "--precision", "bf16"])
    assert r.exit_code == 0, r.output
    assert files() == before  # the bf16 features were read as they were: nothing extracted again, in any precision
    saved = json.loads((run / TRAIN_CONFIG).read_text())
    assert saved["precision"] == "bf16" and saved["recipe"]["precision"] == "bf16"

    # a resume cannot change the precision of the features the head trained on
    r = CliRunner().invoke(main, [*args, "--resume", "--epochs", "6", "--precision", "fp32"])
    assert r.exit_code != 0 and "cannot change precision" in r.output, r.output

    r = CliRunner().invoke(main, ["evaluate", "--model", str(run / "best"), "--data", str(loop_benchmark), "--out",
                                  str(tmp_path / "results"), "--no-plots", "--batch-size", "3"])
    assert r.exit_code == 0, r.output
    assert "trained at bf16 and is scored here at fp32" in r.output and "--precision bf16" in r.output
    results = json.loads((tmp_path / "results" / "results.json").read_text())["model"]
    assert results["training"]["precision"] == "bf16" and results["precision"] == "fp32"
    assert (results["batch_size"], results["clip"]) == (3, str(model.clip))


def test_bf16_on_a_cpu_without_native_bf16_is_warned_about_once(caplog):
    assert P.emulated_bf16_warning("flags : fpu sse2 avx2 fma avx512f") is not None
    assert P.emulated_bf16_warning("flags : fpu avx2 avx512f avx512_bf16") is None
    assert P.emulated_bf16_warning("flags : fpu avx2 amx_bf16 amx_tile") is None
    assert "avx512_bf16" in P.emulated_bf16_warning("flags : avx2")  # says what the CPU lacks
    P._warned.clear()
    with caplog.at_level("WARNING", logger="mom_bench.core.precision"):
        for _ in range(3):
            assert P.resolve("bf16", "cpu") == "bf16"
        assert P.resolve("auto", "cpu") in ("bf16", "fp32") and P.resolve("fp32", "cpu") == "fp32"
    warnings = [r.getMessage() for r in caplog.records if "no native bf16" in r.getMessage()]
    assert warnings == ([] if P.cpu_has_native_bf16() else [P.emulated_bf16_warning()])
