"""The trainer: recipes, losses, run folders, seeded reproducibility and resuming."""
import json
import math
import shutil

import pytest
import torch

from mom_bench.core import recipes
from mom_bench.dataset import read
from mom_bench.loop import losses, runs
from mom_bench.loop import training as T
from mom_bench.models import registry
from tests._fixtures_loop import TINY_RECIPE


@pytest.fixture(scope="module")
def data(loop_benchmark):
    return loop_benchmark  # built once per session by the real builder (tests/conftest.py)


def _log(run):
    rows = [json.loads(x) for x in (run / runs.TRAIN_LOG).read_text().splitlines()]
    for r in rows:
        r.pop("seconds")
    return rows


# ---------------------------------------------------------------------------------------------- recipes


def test_recipes_follow_the_papers():
    clam = registry.recipe_for(registry.resolve("clam"))
    assert (clam.loss, clam.aux_weight, clam.margin, clam.lr, clam.weight_decay, clam.batch_size, clam.epochs) == \
        ("bce+triplet", 0.5, 0.2, 1e-4, 0.01, 16, 50)
    assert clam.schedule == "constant" and clam.mixup_p == 0 and not clam.spec_augment
    mini = registry.recipe_for(registry.resolve("clam", "mom-mini"))
    assert mini.loss == "bce+triplet" and mini.epochs < 50
    assert registry.recipe_for(registry.resolve("mert-only")).loss == "bce"
    assert registry.recipe_for(registry.resolve("mert-only", "mom-mini")).loss == "bce"
    s = registry.recipe_for(registry.resolve("spectttra-alpha-120s"))
    assert (s.label_smoothing, s.weight_decay, s.schedule, s.warmup_epochs, s.grad_clip, s.mixup_alpha, s.mixup_p,
            s.lr, s.batch_size) == (0.02, 0.05, "cosine", 5, 5.0, 2.5, 0.5, 5e-4, 96)
    assert s.spec_augment and s.random_crop and s.amp
    assert registry.recipe_for(registry.resolve("spectttra-beta-5s")).lr == 8e-4
    assert registry.recipe_for(registry.resolve("clam"), {"loss": "bce+huber", "epochs": 3}).loss == "bce+huber"


def test_unknown_or_bad_recipe_keys_are_refused(tmp_path):
    with pytest.raises(ValueError, match=r"epoch \(did you mean epochs\?\)"):
        registry.recipe_for(registry.resolve("clam"), {"epoch": 1})
    with pytest.raises(ValueError, match="loss must be one of"):
        registry.recipe_for(registry.resolve("clam"), {"loss": "focal"})
    bad = tmp_path / "c.yaml"
    bad.write_text("- a list\n")
    with pytest.raises(recipes.TrainingConfigError, match="mapping"):
        recipes.read_config_file(bad)


@pytest.mark.parametrize("values, message", [
    ({"grad_clip": -1}, "grad_clip must be positive"),  # would turn training into gradient ascent
    ({"aux_weight": -100}, "aux_weight must be >= 0"), ({"warmup_epochs": -5}, "warmup_epochs must be >= 0"),
    ({"epochs": 2.5}, "epochs must be an integer, got 2.5"), ({"epochs": "3"}, "epochs must be an integer, got '3'"),
    ({"lr": float("nan")}, "lr must be a finite number"),
    ({"spec_augment": "yes"}, "spec_augment must be true or false"),
])
def test_recipe_values_are_checked_before_any_folder_is_made(data, tmp_path, values, message):
    with pytest.raises(recipes.TrainingConfigError, match=message):
        T.train("clam-tiny", data, tmp_path / "run", config=values, progress=False)
    assert not (tmp_path / "run").exists()


def test_learning_rate_schedule():
    r = recipes.Recipe(lr=1e-3, schedule="cosine", warmup_epochs=2, warmup_start_lr=1e-6, epochs=10)
    assert losses.lr_at(r, 0) == pytest.approx(1e-6)
    assert losses.lr_at(r, 1) == pytest.approx((1e-6 + 1e-3) / 2)
    assert losses.lr_at(r, 2) == pytest.approx(1e-3)
    assert losses.lr_at(r, 6) == pytest.approx(0.5e-3)
    assert losses.lr_at(r, 10) == pytest.approx(0.0, abs=1e-12)
    assert losses.lr_at(recipes.Recipe(lr=1e-4), 7.5) == 1e-4


# ---------------------------------------------------------------------------------------------- losses


def test_triplet_loss_matches_torch_triplet_margin_loss():
    g = torch.Generator().manual_seed(0)
    a, p = torch.randn(5, 7, generator=g), torch.randn(5, 7, generator=g)
    i, j = zip(*[(i, j) for i in range(5) for j in range(5) if i != j])
    ref = torch.nn.TripletMarginLoss(margin=0.2, p=2, eps=0.0)(a[list(i)], p[list(i)], p[list(j)])
    assert losses.alignment_loss(a, p, "triplet") == pytest.approx(float(ref), rel=1e-5)
    # squared L2 (paper's Algorithm 1)
    d = lambda x, y: ((x - y) ** 2).sum(-1)  # noqa: E731
    ref_sq = torch.relu(d(a[list(i)], p[list(i)]) - d(a[list(i)], p[list(j)]) + 0.2).mean()
    assert losses.alignment_loss(a, p, "triplet", distance="sql2") == pytest.approx(float(ref_sq), rel=1e-5)
    # hard negatives: the closest other positive of each anchor
    dist = torch.cdist(a, p)
    hard = torch.stack([min(dist[k, m] for m in range(5) if m != k) for k in range(5)])
    ref_hard = torch.relu(dist.diagonal() - hard + 0.2).mean()
    assert losses.alignment_loss(a, p, "triplet", negatives="hard") == pytest.approx(float(ref_hard), rel=1e-5)
    # one or no real in the batch: no triplet
    assert float(losses.alignment_loss(a[:1], p[:1], "triplet")) == 0.0
    assert float(losses.alignment_loss(a[:0], p[:0], "triplet")) == 0.0
    assert losses.alignment_loss(a, p, "mse") == pytest.approx(float(torch.nn.functional.mse_loss(a, p)))
    assert losses.alignment_loss(a, p, "huber") == pytest.approx(float(torch.nn.functional.huber_loss(a, p)))
    # the gradient stays finite when anchor and positive coincide
    x = a.clone().requires_grad_(True)
    losses.alignment_loss(x, x.detach().clone(), "triplet").backward()
    assert torch.isfinite(x.grad).all()


def test_label_smoothing():
    logits, y = torch.tensor([2.0, -1.0]), torch.tensor([1, 0])
    ref = torch.nn.functional.binary_cross_entropy_with_logits(logits, torch.tensor([0.99, 0.01]))
    assert losses.bce_loss(logits, y, 0.02) == pytest.approx(float(ref))


# ---------------------------------------------------------------------------------------------- runs


def test_run_folder_log_and_best_checkpoint(data, tmp_path):
    run = T.train("clam-tiny", data, tmp_path / "run", config=TINY_RECIPE, progress=False)
    log = _log(run)
    assert [r["epoch"] for r in log] == [1, 2, 3, 4]
    n_val = sum(read.read_info(data)["counts"]["validation"].values())
    for r in log:
        assert math.isfinite(r["train_loss"]) and r["val_n"] == n_val
        assert r["train_loss"] == pytest.approx(r["train_bce"] + 0.5 * r["train_aux"], rel=1e-4)
    best = max(log, key=lambda r: (r["val_f1"], -r["val_loss"]))
    cfg = json.loads((run / runs.TRAIN_CONFIG).read_text())
    assert cfg["best_epoch"] == best["epoch"] and cfg["model"] == "clam-tiny"
    assert cfg["recipe"]["lr"] == 2e-2 and cfg["recipe"]["loss"] == "bce+triplet"
    assert cfg["dataset_fingerprint"] == json.loads((data / "build_report.json").read_text())["fingerprint"]
    assert (run / "last" / runs.OPTIMIZER_FILE).is_file() and (run / "last" / runs.TRAINER_STATE).is_file()
    model = registry.load(run / "best")
    assert model.name == "clam-tiny"
    assert best["val_f1"] > 0.5  # tones vs noise: learnt in a few epochs
    with pytest.raises(T.TrainError, match="different training run: pass --resume to continue it, --overwrite"):
        T.train("clam-tiny", data, tmp_path / "run", config={**TINY_RECIPE, "lr": 1e-3}, progress=False)


def test_the_same_command_twice_reuses_the_finished_run(data, tmp_path):
    run = T.train("clam-tiny", data, tmp_path / "run", config=TINY_RECIPE, progress=False)
    before = {p.name: p.stat().st_mtime_ns for p in (run / "best").iterdir()}
    said = []
    assert T.train("clam-tiny", data, run, config=TINY_RECIPE, progress=False, log=said.append) == run
    assert "reusing it" in said[-1] and len(_log(run)) == 4
    assert {p.name: p.stat().st_mtime_ns for p in (run / "best").iterdir()} == before


def test_the_same_command_after_an_interruption_continues_it(data, tmp_path):
    full = T.train("clam-tiny", data, tmp_path / "full", config=TINY_RECIPE, progress=False)

    def interrupt_after_epoch_1(msg):
        if msg.startswith("epoch 1/"):
            raise KeyboardInterrupt

    def interrupt_after_epoch_2(msg):
        if msg.startswith("epoch 2/"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        T.train("clam-tiny", data, tmp_path / "cut", config=TINY_RECIPE, progress=False, log=interrupt_after_epoch_2)
    assert len(_log(tmp_path / "cut")) == 2
    said = []
    T.train("clam-tiny", data, tmp_path / "cut", config=TINY_RECIPE, progress=False, log=said.append)
    assert "continuing it" in said[0]
    assert _log(tmp_path / "cut") == _log(full)

    # Killed during epoch 1: train_config.json and an empty log exist, no checkpoint yet.
    early = tmp_path / "early"
    with pytest.raises(KeyboardInterrupt):
        T.train("clam-tiny", data, early, config=TINY_RECIPE, progress=False, log=interrupt_after_epoch_1)
    shutil.rmtree(early / "last")
    shutil.rmtree(early / "best")
    (early / runs.TRAIN_LOG).write_text("")
    said = []
    T.train("clam-tiny", data, tmp_path / "early", config=TINY_RECIPE, progress=False, log=said.append)
    assert "starting it again" in said[0]
    assert _log(tmp_path / "early") == _log(full)


def test_same_seed_same_run_other_seed_other_run(data, tmp_path):
    a = _log(T.train("clam-tiny", data, tmp_path / "a", config={**TINY_RECIPE, "epochs": 2}, seed=3, progress=False))
    b = _log(T.train("clam-tiny", data, tmp_path / "b", config={**TINY_RECIPE, "epochs": 2}, seed=3, progress=False))
    c = _log(T.train("clam-tiny", data, tmp_path / "c", config={**TINY_RECIPE, "epochs": 2}, seed=4, progress=False))
    assert a == b
    assert a[0]["train_loss"] != c[0]["train_loss"]


def test_resume_continues_exactly(data, tmp_path):
    full = T.train("clam-tiny", data, tmp_path / "full", config=TINY_RECIPE, progress=False)
    part = T.train("clam-tiny", data, tmp_path / "part", config={**TINY_RECIPE, "epochs": 2}, progress=False)
    assert len(_log(part)) == 2
    with pytest.raises(T.TrainError, match="cannot change lr"):
        T.train("clam-tiny", data, part, config={"lr": 1e-2}, resume=True, progress=False)
    T.train("clam-tiny", data, part, epochs=4, resume=True, progress=False)
    assert _log(part) == _log(full)
    from safetensors.torch import load_file

    wa, wb = load_file(str(full / "last" / "model.safetensors")), load_file(str(part / "last" / "model.safetensors"))
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


def test_not_a_built_benchmark(tmp_path):
    from mom_bench.dataset.read import NotABuiltBenchmark

    with pytest.raises(NotABuiltBenchmark, match="build it with `mom-bench build --benchmark"):
        T.train("clam-tiny", tmp_path, tmp_path / "run", progress=False)


def test_single_stream_model_refuses_triplet(data, tmp_path):
    with pytest.raises(T.TrainError, match="has one stream.*use --loss bce"):
        T.train("mert-only-mini", data, tmp_path / "r", config={"epochs": 1, "loss": "bce+triplet"}, progress=False)


@pytest.mark.slow
def test_end_to_end_recipe_trains_spectttra(data, tmp_path):
    run = T.train("spectttra-mini", data, tmp_path / "s", config={"epochs": 2, "batch_size": 8, "mixup_p": 1.0},
                  progress=False)
    log = _log(run)
    assert len(log) == 2 and all(math.isfinite(r["train_loss"]) for r in log)
    assert all(0 < r["train_mixup_lambda"] < 1 for r in log)
    # warm-up then cosine: each epoch logs the rate of its last step, as the schedule gives it
    recipe = recipes.Recipe.from_dict(json.loads((run / runs.TRAIN_CONFIG).read_text())["recipe"])
    assert (recipe.schedule, recipe.warmup_epochs, recipe.epochs) == ("cosine", 1, 2)
    steps = math.ceil(read.num_rows(data, "train") / recipe.batch_size)
    assert [r["lr"] for r in log] == pytest.approx([losses.lr_at(recipe, e + (steps - 1) / steps) for e in (0, 1)])
    assert steps > 1 and log[0]["lr"] < recipe.lr and log[1]["lr"] < recipe.lr  # warming up, then decaying
    assert registry.load(run / "best").name == "spectttra-mini"


def test_a_mistyped_model_is_named_before_any_data_is_needed(tmp_path):
    from mom_bench.loop import evaluation as evaluate_mod
    from mom_bench.loop import training as train_mod
    from mom_bench.models.registry import UnknownModelError

    for run in (train_mod.train, evaluate_mod.evaluate):
        with pytest.raises(UnknownModelError, match="Did you mean 'clam'"):
            run("clma", data_dir=tmp_path / "no-dataset-here")


def test_every_training_family_has_one_feed_and_every_registry_row_uses_its_own():
    from mom_bench.core.recipes import FAMILY_RECIPES
    from mom_bench.loop.feeds import feed_class
    from mom_bench.models.base import Detector, FrozenEncoderDetector, SpectrogramDetector

    bases = [Detector, FrozenEncoderDetector, SpectrogramDetector]
    assert {feed_class(b).family for b in bases} == set(FAMILY_RECIPES)
    for base in bases:
        assert feed_class(base).family == base.training_family
    for spec in registry.list_models(include_plugins=False):
        cls = spec.load_class()
        assert feed_class(cls).family == cls.training_family == spec.family, spec.name


def test_a_run_saved_before_recipes_had_a_precision_is_still_the_same_run(data, tmp_path):
    """Runs trained before `precision` was a recipe key lack it in train_config.json; the same command reuses
    them rather than calling them another run (their precision was the family's own, as today's default)."""
    run = T.train("clam-tiny", data, tmp_path / "run", config=TINY_RECIPE, progress=False)
    path = run / runs.TRAIN_CONFIG
    saved = json.loads(path.read_text())
    assert saved["recipe"].pop("precision") is None and saved.pop("precision") == "fp32"
    path.write_text(json.dumps(saved))
    said: list[str] = []
    T.train("clam-tiny", data, run, config=TINY_RECIPE, progress=False, log=said.append)
    assert any("reusing it" in line for line in said), said
