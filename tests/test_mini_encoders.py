"""mom-mini's CLAM on pretrained encoders of our own code (CREPE-tiny, GE2E), its random control, and what the
same training command does with a run of an earlier configuration."""
from __future__ import annotations

import json

import pytest
import torch

from mom_bench.loop import training as T
from mom_bench.loop.runs import TRAIN_CONFIG, default_run_dir
from mom_bench.models import registry
from mom_bench.models.checkpoints import CheckpointError
from mom_bench.models.encoders import Encoder


def test_clam_mini_uses_the_shipped_pretrained_encoders_and_saves_only_its_head(tmp_path):
    model = registry.create("clam", benchmark="mom-mini")
    assert model.name == "clam-mini" and model.streams == ["music", "voice"]
    assert {s: model.encoders[s].spec["kind"] for s in model.streams} == {"music": "crepe", "voice": "ge2e"}
    assert all(model.encoders[s].pretrained for s in model.streams)
    assert not any(p.requires_grad for p in model.encoders.parameters())
    saved = model.weights_to_save()
    assert saved and not any(k.startswith("encoders.") for k in saved)  # the shipped weights are named, not copied
    model.save_pretrained(tmp_path / "m")
    loaded = registry.load(tmp_path / "m")
    wave = torch.randn(3, 24000 * 2) * 0.1
    with torch.no_grad():
        torch.testing.assert_close(loaded.eval()(wave), model.eval()(wave), atol=0, rtol=0)


def test_the_random_control_has_the_same_networks_untrained():
    pretrained, random = registry.create("clam-mini"), registry.create("clam-mini-random")
    for s in ("music", "voice"):
        a, b = pretrained.encoders[s], random.encoders[s]
        assert (a.n_layers, a.hidden_size) == (b.n_layers, b.hidden_size) and not b.pretrained
        assert a.identity() != b.identity()
        assert not torch.equal(next(a.parameters()), next(b.parameters()))
    assert pretrained.feature_key() != random.feature_key()  # never served each other's cached features
    assert any(k.startswith("encoders.") for k in random.weights_to_save())  # random weights travel with it


def test_an_encoder_spec_naming_other_weights_is_one_clear_error():
    with pytest.raises(CheckpointError, match="CREPE tiny takes the weights 'crepe-tiny'"):
        Encoder({"kind": "crepe", "arch": "tiny", "weights": "crepe-full", "sample_rate": 16000}, "music")
    with pytest.raises(ValueError, match="unknown encoder kind 'vggish'"):
        Encoder({"kind": "vggish", "sample_rate": 16000}, "music")


def test_a_run_of_an_earlier_configuration_is_kept_aside_by_the_same_plain_command(loop_benchmark):
    # The plain command (no flags) over a run that an earlier mom-bench made of a row that has changed since:
    # the old run is moved aside, nothing deleted, and the current configuration is trained.
    run = T.train("clam-tiny", loop_benchmark, progress=False)
    assert run == default_run_dir("loop-fixture", "clam-tiny")
    config = json.loads((run / TRAIN_CONFIG).read_text())
    config["registry_config"]["head_dim"] = 999  # as if the row had another head then
    (run / TRAIN_CONFIG).write_text(json.dumps(config))
    said: list[str] = []
    again = T.train("clam-tiny", loop_benchmark, progress=False, log=said.append)
    assert again == run and "moved it to" in said[0]
    aside = [p for p in run.parent.iterdir() if p.name.startswith("clam-tiny.previous-")]
    assert len(aside) == 1 and json.loads((aside[0] / TRAIN_CONFIG).read_text())["registry_config"]["head_dim"] == 999
    assert json.loads((run / TRAIN_CONFIG).read_text())["registry_config"]["head_dim"] == 8
    # With flags the user chose, a different run is still refused, never moved.
    with pytest.raises(T.TrainError, match="different training run"):
        T.train("clam-tiny", loop_benchmark, config={"lr": 0.5}, progress=False)
