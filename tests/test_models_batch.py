"""Every registry model scores an item the same alone and inside a batch (1e-5), and keeps the contract:
one finite logit per item for a waveform batch at its declared rate."""
from __future__ import annotations

import pytest
import torch

from mom_bench.models import registry
from mom_bench.models.registry import list_models

# Rows that need a big model or long input; the others run in every test run.
_HEAVY = {"clam", "clam-wca", "mert-only", "wav2vec2-only",
          "spectttra-alpha-120s", "spectttra-beta-120s", "spectttra-gamma-120s"}


def _build(spec):
    config = spec.full_config()
    cls = spec.load_class()
    if hasattr(cls, "architecture_only"):
        # Same architecture with random encoders: the pretrained checkpoints are not available offline, and
        # batch independence is a property of the computation, not of the weight values.
        config = cls.architecture_only(config)
    return cls(config).eval()


def _input_seconds(spec) -> float:
    if spec.target.endswith(":ClamDetector"):
        # Encoders take any length and pool over time: a short input exercises the same computation
        # (base encoders on 90 s would take minutes on a 2-core machine).
        return 1.0
    clip = registry.resolve(spec.name).clip
    return float(clip.split(":")[1]) if ":" in clip else 2.0


@pytest.mark.parametrize("name", [
    pytest.param(s.name, marks=pytest.mark.slow) if s.name in _HEAVY else s.name for s in list_models()])
def test_item_alone_equals_item_in_batch(name):
    spec = registry.resolve(name)
    torch.manual_seed(0)
    model = _build(spec)
    n = int(_input_seconds(spec) * model.sample_rate)
    g = torch.Generator().manual_seed(1)
    # items of very different loudness, so any cross-item normalisation or attention would show
    wave = torch.randn(3, n, generator=g) * torch.tensor([[0.01], [0.3], [1.0]])
    with torch.inference_mode():
        batch = model(wave)
        alone = torch.cat([model(wave[i:i + 1]) for i in range(3)])
    assert batch.shape == (3,) and batch.dtype == torch.float32 and torch.isfinite(batch).all()
    torch.testing.assert_close(alone, batch, atol=1e-5, rtol=0)
    assert model.config["model"] == spec.name
