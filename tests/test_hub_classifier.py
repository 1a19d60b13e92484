"""Hugging Face audio classifiers as detectors (``hf:<Hub id or folder>[@revision]``): a tiny random
Wav2Vec2ForSequenceClassification evaluated from a local folder and from the loopback Hub at a pinned commit,
the fake-label rules, the detector contract, and `mom-bench predict --model hf:...`."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from test_models_hub import REPO, SHA_A, SHA_B, Hub

from mom_bench.cli import main
from mom_bench.models import hub_classifier as H
from mom_bench.models.checkpoints import CheckpointError
from tests._fixtures_loop import flac_bytes, signal

RATE = 16000
# Hop 640 samples (25 frames/s), so a 30 s clip is 750 frames: seconds per test, even at the default clip.
TINY = {"hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 32,
        "conv_dim": [8, 8, 8], "conv_stride": [10, 8, 8], "conv_kernel": [10, 8, 8],
        "num_conv_pos_embeddings": 8, "num_conv_pos_embedding_groups": 2, "classifier_proj_size": 8}


def save_tiny(folder: Path, labels: dict[int, str], seed: int = 0) -> Path:
    """A random Wav2Vec2ForSequenceClassification with ``labels`` and its 16 kHz extractor, saved in ``folder``."""
    from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2ForSequenceClassification

    config = Wav2Vec2Config(**TINY, num_labels=len(labels), id2label=labels,
                            label2id={v: k for k, v in labels.items()})
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Wav2Vec2ForSequenceClassification(config)
        for p in model.classifier.parameters():  # logits of a visible size, so the labels matter
            torch.nn.init.normal_(p, std=2.0)
    model.save_pretrained(folder)
    Wav2Vec2FeatureExtractor(sampling_rate=RATE).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return save_tiny(tmp_path_factory.mktemp("hf") / "tiny-real-fake", {0: "real", 1: "fake"})


@pytest.fixture(scope="module")
def songs(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("hf-songs")
    (folder / "short.flac").write_bytes(flac_bytes(signal("gen_a", 1.5, 7)))
    (folder / "long.flac").write_bytes(flac_bytes(signal("real", 6.6, 8)))
    return folder


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --------------------------------------------------------------------------------------------------
# (a) a local folder, evaluated end to end


def test_evaluate_a_local_folder(tiny, loop_benchmark):
    import mom_bench
    from mom_bench.core import audio
    from mom_bench.dataset import read

    result = mom_bench.evaluate(f"hf:{tiny}", data_dir=loop_benchmark, clip="first:3", n_bootstrap=10,
                                plots=False, progress=False)
    saved = json.loads((result.out_dir / "results.json").read_text())
    model = saved["model"]
    assert model["requested"] == model["name"] == f"hf:{tiny}"
    assert model["config"] == {
        "model": f"hf:{tiny}", "hub_id": str(tiny), "revision": None, "fake_label": "fake", "fake_label_id": 1,
        "labels": {"0": "real", "1": "fake"}, "clip": "first:3", "sample_rate": RATE,
        "architecture": "Wav2Vec2ForSequenceClassification", "feature_extractor": "Wav2Vec2FeatureExtractor",
        "identity": model["config"]["identity"]}
    assert model["config"]["identity"].startswith("local:")
    assert model["checkpoint"] == f"hf:{tiny}" and model["checkpoint_sha256"] == sha256(tiny / "model.safetensors")
    assert result.out_dir.parent.name.startswith("hf-local-tiny-real-fake-")  # no ':' or '/' in the default folder
    scores = result.predictions["score"]
    assert len(scores) == 21 and scores.between(0, 1).all() and scores.nunique() > 1

    # a song's score is the model's P(fake) on the song decoded at 16 kHz through the one audio path
    row = next(read.iter_rows(loop_benchmark, "test_id", columns=["id", "audio"]))
    detector = H.load(f"hf:{tiny}", clip="first:3")
    wave = audio.load(row["audio"], RATE, clip=detector.clip).samples
    want = float(detector.predict_proba(wave[None])[0])
    got = result.predictions.set_index("id").loc[row["id"], "score"]
    assert got == pytest.approx(want, abs=1e-6)


# --------------------------------------------------------------------------------------------------
# (b) a Hub id at a pinned commit, in a fresh process whose HF_ENDPOINT is the loopback Hub


def test_a_hub_classifier_at_a_pinned_commit(tiny, tmp_path, loop_benchmark):
    other = save_tiny(tmp_path / "newer", {0: "real", 1: "fake"}, seed=1)
    with Hub() as hub:
        hub.publish("lab/tiny-cls", SHA_A, tiny)
        hub.publish("lab/tiny-cls", SHA_B, other, main=True)
        code = (
            "import json, mom_bench\n"
            "from mom_bench.models import hub_classifier as H\n"
            "from mom_bench.models.checkpoints import CheckpointError\n"
            f"r = mom_bench.evaluate('hf:lab/tiny-cls@{SHA_A}', data_dir={str(loop_benchmark)!r}, clip='first:3',\n"
            f"                       out_dir={str(tmp_path / 'results')!r}, "
            "n_bootstrap=10, plots=False, progress=False)\n"
            "head = H.load('hf:lab/tiny-cls')\n"
            "errors = []\n"
            f"for ref in ('hf:lab/tiny-cls@{'c' * 40}', 'hf:lab/absent'):\n"
            "    try:\n"
            "        H.load(ref)\n"
            "    except CheckpointError as err:\n"
            "        errors.append(str(err))\n"
            "print(json.dumps({'model': r.results['model'], 'head': [head.config['revision'], head.checkpoint],\n"
            "                  'errors': errors}))\n")
        got = hub.run_json(code, tmp_path)
    model = got["model"]
    assert model["requested"] == f"hf:lab/tiny-cls@{SHA_A}" and model["name"] == "hf:lab/tiny-cls"
    assert model["checkpoint"] == f"hf:lab/tiny-cls@{SHA_A}"
    assert model["checkpoint_sha256"] == sha256(tiny / "model.safetensors")
    config = model["config"]
    assert (config["hub_id"], config["revision"], config["identity"]) == ("lab/tiny-cls", SHA_A,
                                                                          f"lab/tiny-cls@{SHA_A}")
    assert config["fake_label"] == "fake" and config["clip"] == "first:3"
    # weights and extractor were read at the pinned commit, not at main
    assert f"/lab/tiny-cls/resolve/{SHA_A}/model.safetensors" in hub.requests
    assert f"/lab/tiny-cls/resolve/{SHA_A}/preprocessor_config.json" in hub.requests
    # without a pin, the branch head is resolved once to its commit, which is what is recorded
    assert got["head"] == [SHA_B, f"hf:lab/tiny-cls@{SHA_B}"]
    assert "no revision" in got["errors"][0] and "c" * 40 in got["errors"][0]
    assert "lab/absent" in got["errors"][1] and "no such Hub repo" in got["errors"][1]
    written = json.loads((tmp_path / "results" / "results.json").read_text())["model"]
    assert written["checkpoint"] == f"hf:lab/tiny-cls@{SHA_A}" and written["config"] == config


# --------------------------------------------------------------------------------------------------
# (c) which label is fake


@pytest.mark.parametrize("labels, fake", [({0: "real", 1: "fake"}, 1), ({0: "bonafide", 1: "spoof"}, 1),
                                          ({0: "AI-generated", 1: "Human"}, 0), ({0: "deepfake", 1: "bona_fide"}, 0),
                                          ({"0": "Real", "1": "Synthetic"}, 1)])
def test_two_labels_that_say_real_and_fake_are_chosen_automatically(labels, fake):
    i, name, note = H.choose_fake_label(labels, where="hf:lab/x")
    assert i == fake and name == labels.get(fake, labels.get(str(fake)))
    assert "chosen automatically" in note and repr(name) in note and "--fake-label" in note


@pytest.mark.parametrize("labels", [{0: "real", 1: "fake", 2: "unsure"}, {0: "cat", 1: "dog"},
                                    {0: "LABEL_0", 1: "LABEL_1"}, {0: "real", 1: "human"},
                                    {0: "real_or_fake", 1: "other"}])
def test_other_label_sets_need_fake_label(labels):
    with pytest.raises(H.HubClassifierError, match="--fake-label") as err:
        H.choose_fake_label(labels, where="hf:lab/x")
    for name in labels.values():  # the message lists every label
        assert repr(name) in str(err.value)
    last = max(labels)
    assert H.choose_fake_label(labels, labels[last])[:2] == (last, labels[last])
    assert H.choose_fake_label(labels, str(last))[:2] == (last, labels[last])  # an id works too
    assert "as given" in H.choose_fake_label(labels, labels[last])[2]


def test_an_unknown_fake_label_is_one_clear_error():
    with pytest.raises(H.HubClassifierError, match=r"has no label 'synthetic'; its labels are \{0: 'cat', 1: 'dog'\}"):
        H.choose_fake_label({0: "cat", 1: "dog"}, "synthetic", where="hf:lab/x")
    assert H.choose_fake_label({0: "Real", 1: "Fake"}, "fake")[:2] == (1, "Fake")  # case-insensitive when unique


def test_the_logit_is_the_log_odds_of_the_fake_label():
    torch.manual_seed(0)
    z = torch.randn(5, 3) * 4
    for fake in range(3):
        assert torch.allclose(torch.sigmoid(H.fake_log_odds(z, fake)), z.softmax(-1)[:, fake], atol=1e-6)
    two = torch.tensor([[1.0, 3.5], [-200.0, 300.0]])
    assert H.fake_log_odds(two, 1).tolist() == [2.5, 500.0]  # z_fake - z_real, no overflow
    assert H.fake_log_odds(z, 2, independent=True).tolist() == z[:, 2].tolist()


def test_labels_of_a_saved_model(tiny, tmp_path):
    cats = tmp_path / "cats"
    shutil.copytree(tiny, cats)
    raw = json.loads((cats / "config.json").read_text())
    raw.update(id2label={"0": "cat", "1": "dog"}, label2id={"cat": 0, "dog": 1})
    (cats / "config.json").write_text(json.dumps(raw))
    with pytest.raises(H.HubClassifierError, match=r"\{0: 'cat', 1: 'dog'\}: pass --fake-label"):
        H.load(f"hf:{cats}")
    dog = H.load(f"hf:{cats}", fake_label="dog", clip="first:1")
    real = H.load(f"hf:{tiny}", clip="first:1")
    wave = 0.1 * torch.randn(2, RATE)
    with torch.inference_mode():
        assert torch.allclose(dog(wave), real(wave))  # same weights, label 1 taken as fake both times
        assert torch.allclose(H.load(f"hf:{cats}", fake_label="cat", clip="first:1")(wave), -real(wave))
    with pytest.raises(H.HubClassifierError, match="has no label 'bird'"):
        H.load(f"hf:{cats}", fake_label="bird")


def test_more_than_two_labels(tmp_path):
    folder = save_tiny(tmp_path / "three", {0: "human", 1: "suno", 2: "udio"})
    with pytest.raises(H.HubClassifierError, match=r"\{0: 'human', 1: 'suno', 2: 'udio'\}"):
        H.load(f"hf:{folder}")
    model = H.load(f"hf:{folder}", fake_label="udio", clip="first:1")
    wave = 0.1 * torch.randn(2, RATE)
    with torch.inference_mode():
        inputs = model.extractor([w.numpy() for w in wave], sampling_rate=RATE, return_tensors="pt")
        probs = model.model(**inputs).logits.softmax(-1)[:, 2]
        assert torch.allclose(model.predict_proba(wave), probs, atol=1e-5)


@pytest.mark.filterwarnings("ignore:At least one mel filter")
def test_default_clip_is_the_extractors_longest_input():
    from transformers import ASTFeatureExtractor, Wav2Vec2FeatureExtractor, WhisperFeatureExtractor

    assert H.default_clip(Wav2Vec2FeatureExtractor()) == "first:30"  # declares none
    assert H.default_clip(WhisperFeatureExtractor(chunk_length=20)) == "first:20"
    assert H.default_clip(ASTFeatureExtractor(max_length=1024)) == "first:10.255"


def test_what_cannot_be_loaded_says_why(tmp_path):
    from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2Model

    base = tmp_path / "base"
    Wav2Vec2Model(Wav2Vec2Config(**TINY)).save_pretrained(base)
    Wav2Vec2FeatureExtractor(sampling_rate=RATE).save_pretrained(base)
    with pytest.raises(CheckpointError, match="head would be random"):
        H.load(f"hf:{base}")
    with pytest.raises(CheckpointError, match="no such folder"):
        H.load(f"hf:{tmp_path / 'absent'}")
    with pytest.raises(H.HubClassifierError, match="a local folder has no revision"):
        H.load(f"hf:{base}@main")
    with pytest.raises(CheckpointError, match=r"HF_HUB_OFFLINE is set.*lacks config\.json, "
                       r"preprocessor_config\.json, model\.safetensors.*`HF_HUB_OFFLINE=0 hf download lab/absent "
                       r"--revision v1`"):
        H.load("hf:lab/absent@v1")  # offline (the suite's setting) and not in the cache


# --------------------------------------------------------------------------------------------------
# (d) the detector contract


def test_the_wrapped_model_passes_the_detector_check(tiny):
    import mom_bench

    report = mom_bench.check_detector(H.load(f"hf:{tiny}", clip="first:2"))
    assert report.ok, str(report)
    verdicts = {r.name: r.verdict for r in report.results}
    assert verdicts["batch independence"] == "PASS"
    assert verdicts["save/load"] == "PASS"  # a transformers folder + the options, loaded back as hf:<folder>


def test_a_saved_wrapper_keeps_its_options(tiny, tmp_path):
    model = H.load(f"hf:{tiny}", fake_label="real", clip="first:2")
    model.save_pretrained(tmp_path / "saved")
    again = H.load(f"hf:{tmp_path / 'saved'}")
    assert (again.config["fake_label"], again.config["clip"]) == ("real", "first:2")


def test_an_ast_classifier(tmp_path):
    """Another family: a spectrogram transformer whose extractor fixes the input length (64 frames here)."""
    from transformers import ASTConfig, ASTFeatureExtractor, ASTForAudioClassification

    import mom_bench

    labels = {0: "bonafide", 1: "spoof"}
    config = ASTConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
                       patch_size=16, frequency_stride=16, time_stride=16, max_length=64, num_mel_bins=32,
                       id2label=labels, label2id={v: k for k, v in labels.items()})
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        ASTForAudioClassification(config).save_pretrained(tmp_path / "ast")
    ASTFeatureExtractor(num_mel_bins=32, max_length=64).save_pretrained(tmp_path / "ast")
    model = H.load(f"hf:{tmp_path / 'ast'}")
    assert (model.config["fake_label"], model.config["clip"]) == ("spoof", "first:0.655")  # 63 hops of 10 ms + 25 ms
    assert "chosen automatically" in model.choice_note
    report = mom_bench.check_detector(model)
    assert report.ok, str(report)


def save_tiny_ast(folder: Path, seed: int = 0) -> Path:
    """A random ASTForAudioClassification (labels real/fake) and its 16 kHz ASTFeatureExtractor of 64 frames."""
    from transformers import ASTConfig, ASTFeatureExtractor, ASTForAudioClassification

    labels = {0: "real", 1: "fake"}
    config = ASTConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
                       patch_size=16, frequency_stride=16, time_stride=16, max_length=64, num_mel_bins=32,
                       id2label=labels, label2id={v: k for k, v in labels.items()})
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = ASTForAudioClassification(config)
        for p in model.classifier.parameters():  # logits of a visible size
            torch.nn.init.normal_(p, std=2.0)
    model.save_pretrained(folder)
    ASTFeatureExtractor(num_mel_bins=32, max_length=64, sampling_rate=RATE).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def tiny_ast(tmp_path_factory) -> Path:
    return save_tiny_ast(tmp_path_factory.mktemp("hf-ast") / "tiny-ast")


def test_an_ast_detector_scores_each_song_alone(tiny_ast):
    import mom_bench

    model = mom_bench.load_detector(f"hf:{tiny_ast}")
    assert isinstance(model, H.HubClassifier)
    assert (model.sample_rate, model.config["clip"], model.config["fake_label"]) == (RATE, "first:0.655", "fake")
    assert model.config["architecture"] == "ASTForAudioClassification"
    n = model.clip.n_samples(RATE)
    torch.manual_seed(0)
    # songs of very different levels: a normalisation or padding shared by batch-mates would move the scores
    wave = torch.randn(3, n) * torch.tensor([[0.001], [0.1], [1.0]])
    wave[2, n // 2:] = 0.0
    with torch.inference_mode():
        together = model(wave)
        alone = torch.cat([model(wave[i:i + 1]) for i in range(3)])
        inputs = model.extractor(wave[1].numpy(), sampling_rate=RATE, return_tensors="pt")
        direct = model.model(**inputs).logits.softmax(-1)[0, 1]
    assert together.shape == (3,) and torch.allclose(together, alone, atol=1e-5)
    assert float(together.std()) > 1e-3  # the songs get different scores, so the comparison means something
    assert float(torch.sigmoid(together[1])) == pytest.approx(float(direct), abs=1e-5)  # P(fake) of the softmax


def test_cli_predict_with_an_ast_folder(tiny_ast, songs):
    got = {}
    for batch in ("1", "2"):
        r = CliRunner().invoke(main, ["predict", str(songs), "--model", f"hf:{tiny_ast}", "--batch-size", batch,
                                      "--format", "json"])
        assert r.exit_code == 0, r.output
        assert "fake label 'fake' (id 1)" in r.stderr
        data = json.loads(r.stdout)
        assert data["model"] == f"hf:{tiny_ast}"
        got[batch] = {Path(row["file"]).name: (row["p_fake"], row["windows"]) for row in data["rows"]}
    assert set(got["1"]) == {"short.flac", "long.flac"}
    assert got["1"]["long.flac"][1] == 10  # 6.6 s in windows of the extractor's 0.655 s
    for name, (p, windows) in got["1"].items():  # the batch size changes nothing
        assert got["2"][name][0] == pytest.approx(p, abs=1e-6) and got["2"][name][1] == windows


def test_an_ast_detector_from_the_hub_at_a_pinned_commit(tiny_ast, tmp_path):
    other = save_tiny_ast(tmp_path / "newer", seed=1)
    with Hub() as hub:
        hub.publish("lab/tiny-ast", SHA_A, tiny_ast)
        hub.publish("lab/tiny-ast", SHA_B, other, main=True)
        got = hub.run_json(
            "import json, torch, mom_bench\n"
            f"m = mom_bench.load_detector('hf:lab/tiny-ast@{SHA_A}')\n"
            "torch.manual_seed(0)\n"
            "with torch.inference_mode():\n"
            "    s = m(0.1 * torch.randn(2, m.clip.n_samples(m.sample_rate))).tolist()\n"
            "print(json.dumps({'scores': s, 'checkpoint': m.checkpoint, 'clip': m.config['clip']}))\n", tmp_path)
    local = H.load(f"hf:{tiny_ast}")
    torch.manual_seed(0)
    with torch.inference_mode():
        want = local(0.1 * torch.randn(2, local.clip.n_samples(RATE))).tolist()
    assert got == {"scores": pytest.approx(want, abs=1e-6), "checkpoint": f"hf:lab/tiny-ast@{SHA_A}",
                   "clip": "first:0.655"}
    assert f"/lab/tiny-ast/resolve/{SHA_A}/preprocessor_config.json" in hub.requests


def test_offline_an_hf_classifier_half_in_the_cache_names_the_missing_files(tiny_ast, tmp_path):
    """config.json fetched, the rest not: the error lists exactly what is missing and how to fetch it."""
    with Hub() as hub:
        hub.publish("lab/tiny-ast", SHA_A, tiny_ast)
        hub.run_json("import json\nfrom huggingface_hub import hf_hub_download\n"
                     f"print(json.dumps(hf_hub_download('lab/tiny-ast', 'config.json', revision='{SHA_A}')))\n",
                     tmp_path)
    run = subprocess.run(
        [sys.executable, "-c", "from mom_bench.models import hub_classifier as H\n"
         "from mom_bench.models.checkpoints import CheckpointError\n"
         "try:\n"
         f"    H.load('hf:lab/tiny-ast@{SHA_A}')\n"
         "except CheckpointError as err:\n"
         "    print(err)\n"], cwd=REPO, capture_output=True, text=True, timeout=300,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf-home")})
    assert run.returncode == 0, run.stderr
    assert "lacks preprocessor_config.json, model.safetensors:" in run.stdout
    assert f"`HF_HUB_OFFLINE=0 hf download lab/tiny-ast --revision {SHA_A}`" in run.stdout


# --------------------------------------------------------------------------------------------------
# (e) the command line


def test_cli_predict_with_an_hf_model(tiny, songs):
    r = CliRunner().invoke(main, ["predict", str(songs / "short.flac"), "--model", f"hf:{tiny}", "--format", "json"])
    assert r.exit_code == 0, r.output
    assert "fake label 'fake' (id 1)" in r.stderr and "chosen automatically" in r.stderr
    data = json.loads(r.stdout)
    assert data["model"] == f"hf:{tiny}"
    (row,) = data["rows"]
    assert row["status"] == "ok" and 0 <= row["p_fake"] <= 1 and row["windows"] == 1

    # a long file is scored as windows of --clip, aggregated as for any detector
    r = CliRunner().invoke(main, ["predict", str(songs / "long.flac"), "--model", f"hf:{tiny}", "--clip", "first:2",
                                  "--fake-label", "fake", "--format", "json"])
    assert r.exit_code == 0, r.output
    (row,) = json.loads(r.stdout)["rows"]
    assert row["windows"] == 3  # 6.6 s in 2 s windows; the 0.6 s tail is under half a window


def test_cli_hf_options_on_a_registry_model_are_a_usage_error(songs):
    r = CliRunner().invoke(main, ["predict", str(songs / "short.flac"), "--model", "clam", "--fake-label", "fake"])
    assert r.exit_code == 2 and "--fake-label apply only to hf: models" in r.output
    r = CliRunner().invoke(main, ["evaluate", "--model", "clam", "--clip", "first:3"])
    assert r.exit_code == 2 and "--clip apply only to hf: models" in r.output
    r = CliRunner().invoke(main, ["predict", "--help"])
    assert "hf:<Hub id or folder>[@revision]" in r.output and "--fake-label" in r.output


# --------------------------------------------------------------------------------------------------
# (f) hostile folders: every value bounded where it enters, one clear error naming it


def test_label_ids_the_head_does_not_have_are_refused(tmp_path):
    folder = save_tiny(tmp_path / "gap", {0: "real", 7: "fake"})
    with pytest.raises(H.HubClassifierError, match=r"id2label \{0: 'real', 7: 'fake'\} must name exactly the "
                                                   r"head's 2 label ids 0\.\.1"):
        H.load(f"hf:{folder}")


def test_an_absurd_sampling_rate_is_refused_naming_the_range(tmp_path):
    from transformers import Wav2Vec2FeatureExtractor

    folder = save_tiny(tmp_path / "rate", {0: "real", 1: "fake"})
    for rate in (1, 10**9):
        Wav2Vec2FeatureExtractor(sampling_rate=rate).save_pretrained(folder)
        with pytest.raises(H.HubClassifierError, match=rf"sampling_rate {rate}; .*from 1000 to 384000 Hz"):
            H.load(f"hf:{folder}")


def test_a_pickle_checkpoint_that_is_not_plain_tensors_needs_safetensors(tiny, tmp_path):
    """A `.bin` holding more than tensors is never unpickled; the refusal says what to bring instead."""
    from fractions import Fraction

    from safetensors.torch import load_file

    folder = tmp_path / "pickled"
    shutil.copytree(tiny, folder)
    torch.save({**load_file(folder / "model.safetensors"), "payload": Fraction(1, 3)}, folder / "pytorch_model.bin")
    (folder / "model.safetensors").unlink()
    with pytest.raises(CheckpointError) as err:
        H.load(f"hf:{folder}")
    text = str(err.value)
    assert "safetensors" in text and "weights_only" not in text and "\n" not in text


@pytest.mark.parametrize("content", ["[1, 2]", "\"first:2\"", "{not json"])
def test_options_that_are_not_a_json_object_are_one_clear_error(tiny, tmp_path, content):
    folder = tmp_path / "opts"
    shutil.copytree(tiny, folder)
    (folder / H.OPTIONS_FILE).write_text(content)
    with pytest.raises(CheckpointError, match=rf"{H.OPTIONS_FILE}.*JSON object"):
        H.load(f"hf:{folder}")


def test_cli_evaluate_with_an_absurd_hf_sampling_rate_gives_no_rebuild_advice(tmp_path, loop_benchmark):
    from transformers import Wav2Vec2FeatureExtractor

    folder = save_tiny(tmp_path / "rate1", {0: "real", 1: "fake"})
    Wav2Vec2FeatureExtractor(sampling_rate=1).save_pretrained(folder)
    r = CliRunner().invoke(main, ["evaluate", "--model", f"hf:{folder}", "--data", str(loop_benchmark),
                                  "--out", str(tmp_path / "out"), "--clip", "first:2"])
    assert r.exit_code != 0
    assert "rebuild" not in r.output and "internal error" not in r.output
    assert "from 1000 to 384000 Hz" in r.output


@pytest.mark.parametrize("clip", ["first:nan", "first:1e-300", "first:inf", "first:1e9"])
def test_cli_evaluate_with_an_unbounded_clip_names_the_range(tiny, tmp_path, loop_benchmark, clip):
    r = CliRunner().invoke(main, ["evaluate", "--model", f"hf:{tiny}", "--data", str(loop_benchmark),
                                  "--out", str(tmp_path / "out"), "--clip", clip])
    assert r.exit_code != 0
    assert "rebuild" not in r.output and "internal error" not in r.output
    assert f"'{clip}'" in r.output and "from 0.01 to 1800 s" in r.output
