"""`evaluate --robustness` (issue 12): each test split scored again under suite transforms, through the one
audio path, never changing the built dataset, with deltas against clean and the per-item invariance."""
from __future__ import annotations

import hashlib
import json
import shutil

import pytest
import torch

from mom_bench.dataset.transforms import SuiteError
from mom_bench.loop import robustness as R


class Loudness(torch.nn.Module):
    """P(fake) rises with the clip's RMS level: a gain transform must move every score up or down."""

    sample_rate = 16000
    clip = "first:2"

    def __init__(self):
        super().__init__()
        from mom_bench.core.audio import parse_clip

        self.clip = parse_clip("first:2")

    def forward(self, wave):
        return torch.log2(wave.pow(2).mean(dim=-1).sqrt().clamp_min(1e-6) / 0.1)  # +6 dB: one logit more


def _digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted((folder / "data").glob("*.parquet"))}


@pytest.fixture
def data(tmp_path, loop_benchmark):
    out = tmp_path / "bench"
    shutil.copytree(loop_benchmark, out)
    return out


def test_transforms_reach_the_model_and_never_touch_the_dataset(data, tmp_path):
    before = _digest(data)
    clean, robust = R.evaluate_robustness(Loudness(), data_dir=data, out_dir=tmp_path / "res",
                                          transforms=["gain_+6db", "gain_-6db"], n_bootstrap=20, progress=False,
                                          plots=False)
    assert _digest(data) == before
    doc = json.loads((robust.out_dir / "robustness.json").read_text())
    assert robust.out_dir == clean.out_dir / "robustness"
    by_name = {e["name"]: e for e in doc["transforms"]}
    assert set(by_name) == {"gain_+6db", "gain_-6db"}
    preds = {(r["id"], r["transform"]): r["score"] for r in
             __import__("csv").DictReader(open(robust.out_dir / "robustness_predictions.csv"))}
    clean_scores = dict(zip(clean.predictions["id"], clean.predictions["score"]))
    ups = [float(preds[(i, "gain_+6db")]) - s for i, s in clean_scores.items() if (i, "gain_+6db") in preds]
    downs = [float(preds[(i, "gain_-6db")]) - s for i, s in clean_scores.items() if (i, "gain_-6db") in preds]
    assert ups and all(d >= 0 for d in ups) and all(d <= 0 for d in downs)
    assert any(d > 0.01 for d in ups)
    for e in by_name.values():
        inv = e["invariance"]
        assert 0 < inv["mean_abs_dp"] <= inv["max_abs_dp"] <= 1
        for split, st in e["splits"].items():
            assert split.startswith("test")
            assert st["delta"]["tpr"] == pytest.approx(st["tpr"]["value"] - doc["clean"][split]["tpr"]["value"])
    assert doc["families"]["gain"]["transforms"] == 2
    # the invariance verdict is the stated criterion applied to the numbers shown
    fam = doc["families"]["gain"]
    assert fam["passes_invariance"] == (fam["mean_abs_dp"] <= 0.15 and fam["max_abs_dp"] <= 0.35)
    assert "gain_+6db" in (robust.out_dir / "robustness.md").read_text()


def test_transform_that_cannot_run_at_the_stored_rate_is_reported_skipped(data, tmp_path):
    # the loop benchmark stores 24 kHz audio: a 16 kHz round trip runs, nothing is refused silently
    _, robust = R.evaluate_robustness(Loudness(), data_dir=data, out_dir=tmp_path / "res",
                                      transforms=["resample_16k"], n_bootstrap=10, progress=False, plots=False)
    entry = robust.document["transforms"][0]
    assert entry["status"] == "ok" and robust.document["stored_sample_rate"] == 24000


def test_unknown_transform_is_refused_before_anything_is_written(data, tmp_path):
    with pytest.raises(SuiteError, match="no transform 'mp3_65k'.*did you mean 'mp3_64k'"):
        R.evaluate_robustness(Loudness(), data_dir=data, out_dir=tmp_path / "res", transforms=["mp3_65k"],
                              progress=False)
    assert not (tmp_path / "res").exists()


@pytest.mark.slow
def test_frozen_encoder_rerun_reuses_cached_scores_and_features(data, tmp_path, loop_run):
    """A trained frozen-encoder model: the second run computes nothing (same numbers, caches untouched)."""
    from mom_bench.core import settings

    kwargs = dict(data_dir=data, transforms=["mp3_64k", "noise_snr20"], n_bootstrap=20, progress=False,
                  plots=True)
    _, first = R.evaluate_robustness("clam-tiny", loop_run / "best", out_dir=tmp_path / "a", **kwargs)
    cache = settings.cache_dir() / "robustness-scores"
    stamps = {p: p.stat().st_mtime_ns for p in cache.iterdir()}
    assert len(stamps) == 2 * len(first.document["splits"])
    _, second = R.evaluate_robustness("clam-tiny", loop_run / "best", out_dir=tmp_path / "b", **kwargs)
    assert {p: p.stat().st_mtime_ns for p in cache.iterdir()} == stamps
    strip = lambda d: {k: v for k, v in d.items() if k != "checkpoint"}  # noqa: E731
    assert strip(second.document) == strip(first.document)
    for png in ("robustness_heatmap.png", "robustness_codecs.png"):
        assert (second.out_dir / png).read_bytes()[:4] == b"\x89PNG"


def test_cli_robustness_needs_a_suite_for_transforms(tmp_path):
    from click.testing import CliRunner

    from mom_bench.cli import main

    result = CliRunner().invoke(main, ["evaluate", "--model", "clam", "--transforms", "mp3_64k"])
    assert result.exit_code == 2 and "--robustness" in result.output


class FixedLength(Loudness):
    """Takes only its own clip length, as SpecTTTra's patch grid does."""

    def forward(self, wave):
        if wave.shape[-1] != 2 * self.sample_rate:
            raise ValueError(f"expects {2 * self.sample_rate} samples, got {wave.shape[-1]}")
        return super().forward(wave)


def test_clip_sweep_entry_a_model_cannot_take_is_reported_skipped(data, tmp_path, monkeypatch):
    suite = tmp_path / "suite.yaml"
    suite.write_text("name: tiny\nversion: '1'\ndescription: one gain and a clip sweep\nseed: 0\n"
                     "transforms:\n  - {name: g, kind: gain, family: gain, params: {db: 3}}\n"
                     "clips: ['first:2', 'first:4']\n")
    _, robust = R.evaluate_robustness(FixedLength(), data_dir=data, out_dir=tmp_path / "res", suite=suite,
                                      n_bootstrap=10, progress=False, plots=False)
    by_name = {e["name"]: e for e in robust.document["transforms"]}
    assert by_name["g"]["status"] == "ok" and by_name["clip:first:2"]["status"] == "ok"
    assert by_name["clip:first:4"]["status"] == "skipped"
    assert "expects 32000 samples" in by_name["clip:first:4"]["reason"]


def test_clip_entries_can_be_picked_by_name(data, tmp_path):
    suite = tmp_path / "suite.yaml"
    suite.write_text("name: tiny\nversion: '1'\ndescription: a gain and a clip sweep\nseed: 0\n"
                     "transforms:\n  - {name: g, kind: gain, family: gain, params: {db: 3}}\n"
                     "clips: ['first:2', 'first:4']\n")
    _, robust = R.evaluate_robustness(Loudness(), data_dir=data, out_dir=tmp_path / "res", suite=suite,
                                      transforms=["clip:first:4"], n_bootstrap=10, progress=False, plots=False)
    assert [e["name"] for e in robust.document["transforms"]] == ["clip:first:4"]
    with pytest.raises(R.RobustnessError, match="no clip entry 'clip:first:9'"):
        R.evaluate_robustness(Loudness(), data_dir=data, out_dir=tmp_path / "res2", suite=suite,
                              transforms=["clip:first:9"], progress=False)
    assert not (tmp_path / "res2").exists()


def _files(folder):
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_plain_evaluate_keeps_robustness_and_what_else_it_did_not_make(data, tmp_path):
    """Issue 26 item 2: a plain evaluate into a results folder replaced it whole, deleting robustness/."""
    from mom_bench.loop import evaluation as E

    out = tmp_path / "res"
    R.evaluate_robustness(Loudness(), data_dir=data, out_dir=out, transforms=["gain_+6db"], n_bootstrap=10,
                          progress=False, plots=False)
    (out / "notes.txt").write_text("mine")
    robustness = _files(out / "robustness")
    said = []
    E.evaluate(Loudness(), data_dir=data, out_dir=out, n_bootstrap=10, progress=False, plots=False, log=said.append)
    assert _files(out / "robustness") == robustness and (out / "notes.txt").read_text() == "mine"
    assert any("kept notes.txt, robustness" in s for s in said)


class FailsLater(Loudness):
    """Loudness that raises after ``limit`` calls: a robustness run that dies after its clean pass."""

    def __init__(self, limit):
        super().__init__()
        self.limit, self.calls = limit, 0

    def forward(self, wave):
        self.calls += 1
        if self.calls > self.limit:
            raise RuntimeError("out of memory, say")
        return super().forward(wave)


def test_a_failed_robustness_rerun_leaves_the_previous_results_whole(data, tmp_path):
    """Issue 26 item 2: the clean pass of a --robustness rerun replaced the results folder (robustness/ gone)
    before the transforms ran, so a rerun that failed lost the previous robustness results."""
    out = tmp_path / "res"
    counting = FailsLater(limit=10**9)
    R.evaluate_robustness(counting, data_dir=data, out_dir=out, transforms=["gain_+6db"], n_bootstrap=10,
                          progress=False, plots=False)
    before = _files(out)
    clean_calls = FailsLater(limit=10**9)
    from mom_bench.loop import evaluation as E

    E.evaluate(clean_calls, data_dir=data, out_dir=tmp_path / "count", n_bootstrap=10, progress=False, plots=False)
    with pytest.raises(RuntimeError, match="out of memory"):
        R.evaluate_robustness(FailsLater(limit=clean_calls.calls), data_dir=data, out_dir=out,
                              transforms=["gain_+6db", "gain_-6db"], n_bootstrap=10, seed=1, progress=False,
                              plots=False)
    assert _files(out) == before
