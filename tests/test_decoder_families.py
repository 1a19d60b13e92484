"""Decoder families as data (issue 22): the vocabulary, the protocols that name it, and evaluate's report per
family, checked against scikit-learn on the stored predictions of a real build."""
from __future__ import annotations

import copy
import json
import shutil

import numpy as np
import pandas as pd
import pytest
import sklearn.metrics as skm
import torch
import yaml

from mom_bench.core.audio import parse_clip
from mom_bench.dataset import protocols, read
from mom_bench.dataset.protocols import ProtocolError
from mom_bench.report import metrics
from mom_bench.report.metrics import schema as results_schema

#: The decoder classes of the 2026 generalisation study (its data/decoder_classes.csv) that occur in its tables.
STUDY_CLASSES = {"rvq_encodec", "rvq_xcodec", "continuous_vae", "mel_vae_hifigan", "griffin_lim", "non_neural",
                 "unknown_proprietary", "hybrid_rvq_flow"}


def test_the_vocabulary_loads_and_maps_onto_the_study_classes():
    vocab = protocols.load_vocabulary()
    assert {"rvq-codec", "continuous-vae", "mel-vocoder", "griffin-lim", "non-neural", "machine-vocals",
            "proprietary-unknown"} <= set(vocab)
    assert protocols.UNSPECIFIED not in vocab
    for family in vocab.values():
        assert family.description and family.examples, family.id
        assert all(e["source"].strip() for e in family.examples), family.id
    mapped = [c for f in vocab.values() for c in f.study_classes]
    assert len(mapped) == len(set(mapped)), "a study class belongs to one family"
    assert set(mapped) == STUDY_CLASSES


@pytest.mark.parametrize("name", protocols.names())
def test_every_generator_of_every_shipped_protocol_names_a_family_of_the_vocabulary(name):
    raw = yaml.safe_load(protocols.path_of(name).read_text())
    if raw["generators"] == protocols.FROM_BASE:  # a derived benchmark (splice) takes its base build's generators
        assert raw["source"]["kind"] in protocols.DERIVED_KINDS
        return
    for g in raw["generators"]:
        assert g.get("decoder_family") in protocols.family_ids(), (name, g["id"])
    assert protocols.UNSPECIFIED not in protocols.load(name).decoder_families.values()


def test_the_generators_of_mom_and_sonics_have_their_published_decoders():
    mom = protocols.load("mom").decoder_families
    assert mom["yue"] == "rvq-codec"  # X-codec, arXiv 2503.08638
    assert mom["diffrhythm"] == "continuous-vae"  # VAE, arXiv 2503.01183
    assert mom["ai_covers"] == "machine-vocals"
    # no decoder published: Suno, Udio and Riffusion's commercial FUZZ-1.0 (not the open Griffin-Lim Riffusion)
    assert {g for g, f in mom.items() if f == "proprietary-unknown"} == {
        "suno_2", "suno_3", "suno_3.5", "suno_4", "udio_1.5", "riffusion"}
    assert protocols.load("mom").generator("riffusion").release == "FUZZ-1.0"
    assert set(protocols.load("sonics").decoder_families.values()) == {"proprietary-unknown"}
    assert protocols.load("sonics").generator("suno_3.5").release == "chirp-v3.5"
    # a leave-one-family-out variant keeps the families of its base
    assert protocols.load("mom-mini-lofo-latent_vae").decoder_families == protocols.load("mom-mini").decoder_families


def _mom_raw():
    return copy.deepcopy(yaml.safe_load(protocols.path_of("mom").read_text()))


def test_a_misspelt_family_is_refused_naming_generator_value_and_allowed_ids(tmp_path):
    raw = _mom_raw()
    raw["generators"][5]["decoder_family"] = "rvq-codek"
    path = tmp_path / "bench.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    with pytest.raises(ProtocolError) as err:
        protocols.load(str(path))
    message = str(err.value)
    assert message.startswith(f"{path}: generators[5] (yue).decoder_family: unknown decoder family 'rvq-codek' "
                              "(did you mean 'rvq-codec'?); allowed: ")
    assert all(family in message for family in protocols.family_ids())


def test_a_custom_protocol_may_leave_families_out(tmp_path):
    raw = _mom_raw()
    for g in raw["generators"]:
        g.pop("decoder_family")
        g.pop("release", None)
    path = tmp_path / "bench.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    assert set(protocols.load(str(path)).decoder_families.values()) == {"unspecified"}


def test_families_add_a_block_and_change_no_other_number():
    rng = np.random.default_rng(3)
    gens = rng.choice(["real", "a", "b", "c"], size=80)
    df = pd.DataFrame({"id": [f"r{i}" for i in range(80)], "split": rng.choice(["test_id", "test_ood"], size=80),
                       "generator": gens, "label": (gens != "real").astype(int),
                       "score": np.clip(rng.normal(0.35 + 0.3 * (gens != "real"), 0.2), 0, 1)})
    plain = metrics.compute_report(df, n_bootstrap=100, seed=1)
    with_families = metrics.compute_report(df, n_bootstrap=100, seed=1, decoder_families={"a": "x", "b": "x"})
    for split in with_families["splits"].values():
        block = split.pop("per_decoder_family")
        assert set(block) == {"x", "unspecified"} and block["x"]["generators"] == ["a", "b"]
    assert with_families["definitions"].pop("per_decoder_family")
    assert with_families == plain
    assert all("per_decoder_family" not in s for s in plain["splits"].values())


class Brightness(torch.nn.Module):
    """P(fake) rises with the mean absolute sample-to-sample change (bright noise high, soft tones low), blurred
    by a term that depends on each clip alone, so that the ranking has errors for the metrics to count."""

    sample_rate = 24000

    def __init__(self):
        super().__init__()
        self.clip = parse_clip("first:2")

    def forward(self, wave):
        blur = 3 * torch.sin(1e3 * wave[..., :200].sum(dim=-1))
        return 8 * (wave.diff(dim=-1).abs().mean(dim=-1) - 0.3) + blur


FAMILIES = {"gen_a": "rvq-codec", "gen_b": "rvq-codec"}  # gen_ood names none: unspecified


@pytest.fixture(scope="module")
def family_build(tmp_path_factory):
    from tests._fixtures_loop import PROTOCOL, build_loop_benchmark

    protocol = copy.deepcopy(PROTOCOL)
    for g in protocol["generators"]:
        if g["id"] in FAMILIES:
            g["decoder_family"] = FAMILIES[g["id"]]
    return build_loop_benchmark(tmp_path_factory.mktemp("family_build"), protocol=protocol)


def test_evaluate_reports_each_family_as_sklearn_computes_it_from_the_predictions(family_build, tmp_path):
    from mom_bench.loop.evaluation import evaluate

    report_gens = json.loads((family_build / "build_report.json").read_text())["generators"]
    assert {g["id"]: g["decoder_family"] for g in report_gens} == {**FAMILIES, "gen_ood": "unspecified"}
    result = evaluate(Brightness(), data_dir=family_build, out_dir=tmp_path / "results", n_bootstrap=200,
                      progress=False, plots=False)
    results = json.loads((tmp_path / "results" / "results.json").read_text())
    assert results_schema.results_problems(results) == []
    preds = pd.read_csv(tmp_path / "results" / "predictions.csv")
    family_of = {**FAMILIES, "gen_ood": "unspecified"}
    preds["family"] = preds["generator"].map(family_of)
    seen = set()
    for split, rows in preds.groupby("split"):
        block = results["metrics"]["splits"][split]["per_decoder_family"]
        reals = rows[rows["label"] == 0]
        fakes = rows[rows["label"] == 1]
        assert set(block) == set(fakes["family"])
        for family, f in block.items():
            mine = fakes[fakes["family"] == family]
            assert f["n_fake"] == len(mine) and f["n_real"] == len(reals)
            assert f["generators"] == sorted(mine["generator"].unique())
            assert f["tpr"]["value"] == pytest.approx(skm.recall_score(mine["label"], mine["score"] >= 0.5))
            both = pd.concat([mine, reals])
            assert f["auc"]["value"] == pytest.approx(skm.roc_auc_score(both["label"], both["score"]))
            lo, hi = f["auc"]["ci"]
            assert 0 <= lo <= hi <= 1
            seen.add(family)
    assert seen == {"rvq-codec", "unspecified"}
    values = [f[m]["value"] for s in results["metrics"]["splits"].values() for f in s["per_decoder_family"].values()
              for m in ("tpr", "auc")]
    assert any(0 < v < 1 for v in values), "the detector should make mistakes for the comparison to mean much"
    md = (tmp_path / "results" / "results.md").read_text()
    assert "## Per decoder family" in md and "| test_id | rvq-codec | gen_a, gen_b | 6 | 5 |" in md
    assert "rvq-codec" in result.summary()


def test_a_results_json_without_families_still_validates(family_build, tmp_path):
    from mom_bench.loop.evaluation import evaluate, render_markdown

    result = evaluate(Brightness(), data_dir=family_build, out_dir=tmp_path / "results", n_bootstrap=20,
                      progress=False, plots=False)
    old = json.loads(json.dumps(result.results))
    for split in old["metrics"]["splits"].values():
        split.pop("per_decoder_family")
    old["metrics"]["definitions"].pop("per_decoder_family")
    assert results_schema.results_problems(old) == []
    assert "Per decoder family" not in render_markdown(old)
    broken = json.loads(json.dumps(result.results))
    broken["metrics"]["splits"]["test_id"]["per_decoder_family"]["rvq-codec"].pop("auc")
    assert any("per_decoder_family" in p for p in results_schema.results_problems(broken))


def test_a_build_made_before_families_were_recorded_takes_its_shipped_protocols(family_build, tmp_path):
    copy_ = tmp_path / "old"
    shutil.copytree(family_build, copy_)
    report = json.loads((copy_ / "build_report.json").read_text())
    for g in report["generators"]:
        g.pop("decoder_family")
    (copy_ / "build_report.json").write_text(json.dumps(report))
    assert set(read.Build.open(copy_, verify=False).decoder_families().values()) == {"unspecified"}
    report.update(benchmark="mom-mini",
                  generators=[{"id": "rvq_codec", "name": "x", "family": "x", "role": "train"},
                              {"id": "machine_vocals", "name": "y", "family": "y", "role": "ood"}])
    (copy_ / "build_report.json").write_text(json.dumps(report))
    assert read.Build.open(copy_, verify=False).decoder_families() == {"rvq_codec": "rvq-codec",
                                                                        "machine_vocals": "machine-vocals"}
