"""Fold views (docs/folds.md): the leave-one-generator/family-out rule with count control on real builds, the
view folder (no audio, deterministic, reused, refused over what it did not make), verification (a tampered view,
a changed or moved base), `datasets` loading, and train / evaluate / extract on a view through the base's
feature cache."""
from __future__ import annotations

import copy
import hashlib
import json
import shutil
import warnings
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from mom_bench.cli import main
from mom_bench.core.errors import BuildTampered, FoldError, ForeignFolder, NotABuiltBenchmark, ViewBaseMissing
from mom_bench.dataset import folds, protocols, read, views
from mom_bench.dataset.read import Build, View

TRAIN_SIDE, TEST_SIDE = {"train", "validation"}, {"test_id", "test_ood"}


# --------------------------------------------------------------------------------------------------
# helpers that read the base and the view independently of the code under test


def base_rows(base: Path) -> pd.DataFrame:
    """Every row of a build, straight from its shards."""
    columns = ["id", "split", "label", "generator", "group_id"]
    return pd.concat([pq.read_table(p, columns=columns).to_pandas() for p in sorted((base / "data").glob("*.parquet"))],
                     ignore_index=True)


def tree_digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def view_file(view_dir: Path) -> dict:
    return json.loads((view_dir / "view.json").read_text())


def check_fold(base: Path, view: View, held: set[str]) -> None:
    """The properties every fold has (docs/folds.md), read from the shards and view.json."""
    rows = base_rows(base).set_index("id")
    doc = view_file(view.path)
    placed = {i: split for split, ids in doc["splits"].items() for i in ids}
    left = {i: why for why, ids in doc["left_out"].items() for i in ids}
    # every base row is in the view or left out with a reason, never both
    assert not set(placed) & set(left)
    assert set(placed) | set(left) == set(rows.index)
    assert set(left.values()) <= {"held_out_in_training", "count_control_surplus"}
    fold = rows.loc[list(placed)].assign(fold=pd.Series(placed))
    fakes = fold[fold["label"] == 1]
    # test_ood holds exactly H's fakes, and H nowhere near training
    assert set(fakes.loc[fakes["fold"] == "test_ood", "generator"]) == held
    assert not (fold["generator"].isin(held) & fold["fold"].isin(TRAIN_SIDE)).any()
    assert not (fakes["generator"].isin(held) & (fakes["fold"] == "test_id")).any()
    held_rows = rows[(rows["label"] == 1) & rows["generator"].isin(held)]
    assert all(left.get(i) == "held_out_in_training" for i in held_rows.index[held_rows["split"].isin(TRAIN_SIDE)])
    # count control: train has the base's number of fakes, or the view says how far short it fell
    target = int(((rows["label"] == 1) & (rows["split"] == "train")).sum())
    control = doc["fold"]["count_control"]
    n_train = int((fakes["fold"] == "train").sum())
    assert control["target"] == target and control["reached"] == n_train
    assert n_train + control["short_by"] == target if control["enabled"] else n_train <= target
    # no group on both sides of the wall
    groups = fold["group_id"].where(fold["group_id"].fillna("") != "", fold.index.to_series())
    assert not set(groups[fold["fold"].isin(TRAIN_SIDE)]) & set(groups[fold["fold"].isin(TEST_SIDE)])
    # every other row keeps its split, but for the base's other OOD fakes and count control's groups
    is_h = (fold["label"] == 1) & fold["generator"].isin(held)
    expected = fold["split"].mask(is_h, "test_ood")
    expected = expected.mask((fold["label"] == 1) & ~is_h & (fold["split"] == "test_ood"), "test_id")
    expected = expected.mask((fold["split"] == "test_id") & groups.isin(doc["fold"]["groups_moved"]) & ~is_h, "train")
    assert (expected == fold["fold"]).all()
    # counts and what the View serves agree with the file
    assert doc["counts"] == {s: fold[fold["fold"] == s].groupby("generator").size().to_dict() for s in doc["splits"]}
    for split, ids in doc["splits"].items():
        table = view.table(split, ["id", "split", "is_ood", "label"])
        assert table["id"].tolist() == ids and set(table["split"]) == {split}
        assert table["is_ood"].tolist() == [split == "test_ood" and label == 1 for label in table["label"]]
    # a view is a small folder: no audio, no shard
    files = [p for p in view.path.rglob("*") if p.is_file()]
    assert {p.name for p in files} <= {"view.json", "README.md", ".mom-bench.lock"}
    assert sum(p.stat().st_size for p in files) < 0.05 * sum(p.stat().st_size for p in (base / "data").iterdir())


# --------------------------------------------------------------------------------------------------
# the rule on real builds


MINI_FOLDS = [("logo", "rvq_codec", {"rvq_codec"}), ("lofo", "continuous-vae", {"latent_vae"}),
              ("lofo", "machine-vocals", {"machine_vocals"})]


@pytest.mark.parametrize("kind, held_out, held", MINI_FOLDS, ids=[f"{k}-{h}" for k, h, _ in MINI_FOLDS])
def test_folds_of_mom_mini_keep_the_rule(mini_build, tmp_path, kind, held_out, held):
    before = tree_digest(mini_build)
    view = views.make_fold(mini_build, kind, held_out, tmp_path / "view")
    check_fold(mini_build, view, held)
    assert tree_digest(mini_build) == before  # nothing under the base changed
    assert view.benchmark == f"mom-mini~{kind}-{held_out}" and view.base.path == mini_build
    doc = view_file(view.path)
    if held_out == "rvq_codec":  # held out from training: its training fakes go, groups are topped up
        assert doc["fold"]["groups_moved"] and doc["fold"]["count_control"]["short_by"] == 0
        assert doc["left_out"]["held_out_in_training"]
        # the base's own held-out generators are scored in test_id now
        assert {"latent_vae", "machine_vocals"} <= set(doc["counts"]["test_id"])
    else:  # an OOD generator of the base: train is untouched, the other OOD generator moves to test_id
        base_counts = Build.open(mini_build).counts
        assert doc["counts"]["train"] == base_counts["train"] and not doc["fold"]["groups_moved"]
        other = ({"latent_vae", "machine_vocals"} - held).pop()
        assert doc["counts"]["test_id"][other] == base_counts["test_ood"][other]


MOM_FOLDS = [("logo", "suno_3.5", {"suno_3.5"}), ("lofo", "rvq-codec", {"yue"}), ("logo", "riffusion", {"riffusion"})]


@pytest.mark.parametrize("kind, held_out, held", MOM_FOLDS, ids=[f"{k}-{h}" for k, h, _ in MOM_FOLDS])
def test_folds_of_a_mom_layout_build_keep_the_rule(mom_build, tmp_path, kind, held_out, held):
    before = tree_digest(mom_build)
    view = views.make_fold(mom_build, kind, held_out, tmp_path / "view")
    check_fold(mom_build, view, held)
    assert tree_digest(mom_build) == before
    if held_out == "suno_3.5":  # rows without a shared group: single fakes move from test_id to train
        assert view.counts["train"] == {"real": 4, "udio_1.5": 6} and len(view.fold["groups_moved"]) == 3


def test_count_control_moves_whole_groups_leaves_the_surplus_and_records_a_shortfall():
    # A hand-made base: H has fakes in train (2) and test_id (1, in group g1); train's target is 3 fakes.
    # Candidates to top train up: g1 (2 fakes of B, H's fake, a real), g2 (3 fakes of B), c1 (no group: its
    # own); not g3 (it has a row in test_ood) nor the reals-only group g6.
    rows = [("t1", "train", 1, "A", "x1"), ("t2", "train", 1, "H", "x2"), ("t3", "train", 1, "H", "x3"),
            ("t4", "train", 0, "real", "x4"),
            ("a1", "test_id", 1, "B", "g1"), ("a2", "test_id", 1, "B", "g1"), ("a3", "test_id", 1, "H", "g1"),
            ("a4", "test_id", 0, "real", "g1"),
            ("b1", "test_id", 1, "B", "g2"), ("b2", "test_id", 1, "B", "g2"), ("b3", "test_id", 1, "B", "g2"),
            ("c1", "test_id", 1, "B", None), ("r1", "test_id", 0, "real", "g6"),
            ("d1", "test_id", 1, "B", "g3"), ("d2", "test_ood", 0, "real", "g3"),
            ("o1", "test_ood", 1, "O", "g4"), ("o2", "test_ood", 1, "H", "g5")]
    meta = pd.DataFrame(rows, columns=["id", "split", "label", "generator", "group_id"])
    group = dict(zip(meta["id"], meta["group_id"].fillna(meta["id"])))
    fake = dict(zip(meta["id"], meta["label"] == 1))
    orders = set()
    for seed in range(6):
        fold = folds.assign(meta, {"H"}, seed=seed)
        got = dict(zip(meta["id"], fold.split))
        why = {i: r for i, r in zip(meta["id"], fold.reason) if r}
        assert fold.count_control == {"enabled": True, "target": 3, "reached": 3, "short_by": 0}
        assert len([i for i in got if got[i] == "train" and fake[i]]) == 3
        assert why["t2"] == why["t3"] == "held_out_in_training"
        assert got["o2"] == "test_ood" and got["o1"] == "test_id"  # steps 1 and 2
        assert set(fold.groups_moved) <= {"g1", "g2", "c1"} and got["d1"] == got["r1"] == "test_id"
        for i in meta["id"]:
            if group[i] in fold.groups_moved:  # a moved group brings everything but H's fake, left out
                assert got[i] == "train" or why[i] == ("held_out_in_training" if i == "a3" else "count_control_surplus")
            elif i[0] in "abc":
                assert got[i] == ("test_ood" if i == "a3" else "test_id")
        surplus = [i for i, r in why.items() if r == "count_control_surplus"]
        assert all(group[i] == fold.groups_moved[-1] for i in surplus)  # only the last group's extra fakes
        orders.add(tuple(fold.groups_moved))
    assert len(orders) > 1  # the seed salts the order
    off = folds.assign(meta, {"H"}, count_control=False)
    assert off.groups_moved == [] and off.count_control == {"enabled": False, "target": 3, "reached": 1,
                                                            "short_by": 2}
    # nothing left to give in test_id: the fold records how far it fell short
    short = folds.assign(meta, {"H", "B"}, seed=0)
    assert short.groups_moved == [] and short.count_control["short_by"] == 2 and short.count_control["reached"] == 1


# --------------------------------------------------------------------------------------------------
# the view folder


def test_the_same_fold_twice_is_the_same_file_and_another_seed_moves_other_groups(mini_build, tmp_path):
    out = tmp_path / "view"
    first = views.make_fold(mini_build, "logo", "mel_vocoder", out)
    text = (out / "view.json").read_bytes()
    again = views.make_fold(mini_build, "logo", "mel_vocoder", out)
    assert again.reused and not first.reused and (out / "view.json").read_bytes() == text
    shutil.rmtree(out)
    remade = views.make_fold(mini_build, "logo", "mel_vocoder", out)
    assert (out / "view.json").read_bytes() == text and remade.fingerprint == first.fingerprint
    other = views.make_fold(mini_build, "logo", "mel_vocoder", tmp_path / "seed1", seed=1)
    assert other.fold["groups_moved"] != first.fold["groups_moved"]
    assert other.fingerprint != first.fingerprint
    assert other.fold["count_control"]["reached"] == first.fold["count_control"]["reached"]


def test_a_view_is_refused_over_what_it_did_not_make(mom_build, tmp_path):
    out = tmp_path / "view"
    views.make_fold(mom_build, "logo", "suno_3.5", out)
    (out / "notes.txt").write_text("mine")
    with pytest.raises(ForeignFolder, match="already holds another fold.*--overwrite"):
        views.make_fold(mom_build, "logo", "udio_1.5", out)
    replaced = views.make_fold(mom_build, "logo", "udio_1.5", out, overwrite=True)
    assert replaced.fold["held_out"] == ["udio_1.5"] and (out / "notes.txt").read_text() == "mine"
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "data.csv").write_text("x")
    with pytest.raises(ForeignFolder, match="not a fold view"):
        views.make_fold(mom_build, "logo", "suno_3.5", foreign, overwrite=True)
    assert sorted(p.name for p in foreign.iterdir()) == ["data.csv"]
    with pytest.raises(ForeignFolder, match="inside the base build"):
        views.make_fold(mom_build, "logo", "suno_3.5", mom_build / "views" / "x")
    assert not (mom_build / "views").exists()
    another_build = shutil.copytree(mom_build, tmp_path / "another-build")
    before = tree_digest(another_build)
    with pytest.raises(ForeignFolder, match="holds a build"):
        views.make_fold(mom_build, "logo", "suno_3.5", another_build, overwrite=True)
    assert tree_digest(another_build) == before


def test_folds_that_cannot_be_made_are_refused_with_the_reason(mom_build, loop_benchmark, tmp_path):
    with pytest.raises(FoldError, match=r"no generator 'suno_9'.*known generators: suno_3.5, udio_1.5, riffusion"):
        views.make_fold(mom_build, "logo", "suno_9", tmp_path / "a")
    with pytest.raises(FoldError, match=r"mom~lofo-proprietary-unknown: the fold leaves train without fakes"):
        views.make_fold(mom_build, "lofo", "proprietary-unknown", tmp_path / "b")
    with pytest.raises(FoldError, match=r"no generator of decoder family 'mel-vocoder'.*known families: "
                                        r"proprietary-unknown, rvq-codec"):
        views.make_fold(mom_build, "lofo", "mel-vocoder", tmp_path / "c")
    # every generator of the loop fixture is 'unspecified': no family to hold out
    with pytest.raises(FoldError, match="'unspecified' is not a decoder family"):
        views.make_fold(loop_benchmark, "lofo", "unspecified", tmp_path / "d")
    assert views.fold_ids(loop_benchmark, "lofo") == []
    assert not any((tmp_path / n).exists() for n in "abcd")
    # all folds of a kind: the impossible one is skipped with its reason
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        made = views.make_folds(mom_build, "lofo", tmp_path / "all")
    assert [v.benchmark for v in made] == ["mom~lofo-rvq-codec"]
    assert any(issubclass(w.category, views.FoldSkipped) and "proprietary-unknown" in str(w.message) for w in caught)
    assert views.fold_ids(mom_build, "logo") == ["suno_3.5", "udio_1.5", "riffusion", "yue", "suno_4"]


def test_a_family_holding_every_generator_and_a_generator_without_test_fakes_are_refused(tmp_path):
    from tests._fixtures_loop import LAYOUT, PROTOCOL, build_loop_benchmark

    protocol = copy.deepcopy(PROTOCOL)
    for g in protocol["generators"]:
        g["decoder_family"] = "rvq-codec"
    layout = [(s, g, n) for s, g, n in LAYOUT if (s, g) != ("test_id", "gen_b")]
    base = build_loop_benchmark(tmp_path / "one-family", seconds=0.5, layout=layout, protocol=protocol)
    with pytest.raises(FoldError, match=r"every generator of this build \(gen_a, gen_b, gen_ood\) is of decoder "
                                        r"family 'rvq-codec'.*needs generators of at least two families"):
        views.make_fold(base, "lofo", "rvq-codec", tmp_path / "a")
    with pytest.raises(FoldError, match="the fold's test_ood holds no fakes: the fakes of gen_b are all in the "
                                        "base's train or validation"):
        views.make_fold(base, "logo", "gen_b", tmp_path / "b")


# --------------------------------------------------------------------------------------------------
# opening a view verifies it


@pytest.fixture()
def own_base(mom_build, tmp_path) -> Path:
    """A copy of the mom-layout build that a test may change."""
    return Path(shutil.copytree(mom_build, tmp_path / "bases" / "mom"))


def test_an_edited_view_file_is_refused(own_base, tmp_path):
    out = tmp_path / "view"
    view = views.make_fold(own_base, "logo", "suno_3.5", out)
    doc = view_file(out)
    moved = doc["splits"]["test_id"].pop(0)
    doc["splits"]["train"].append(moved)
    (out / "view.json").write_text(json.dumps(doc))
    with pytest.raises(BuildTampered, match=rf"split train lists 1 row\(s\) the fold does not put there "
                                            rf"\(first: '{moved}'\).*make the view again: `mom-bench fold"):
        Build.open(out)
    doc = view_file(out)
    doc["splits"] = view.document["splits"]
    doc["fold"]["count_control"]["target"] = 99
    (out / "view.json").write_text(json.dumps(doc))
    with pytest.raises(BuildTampered, match="fold differs from the fold recomputed"):
        Build.open(out)
    (out / "view.json").write_text("{not json")
    with pytest.raises(BuildTampered, match="not valid JSON"):
        Build.open(out)
    (out / "view.json").unlink()
    (out / "view.json").symlink_to(own_base / "build_report.json")
    with pytest.raises(NotABuiltBenchmark, match="link leading out of"):
        Build.open(out)


def test_a_changed_base_is_refused(own_base, loop_benchmark, tmp_path):
    out = tmp_path / "view"
    views.make_fold(own_base, "logo", "suno_3.5", out)
    shard = own_base / "data" / "train-00000.parquet"
    table = pq.read_table(shard)
    flipped = pa.array([1 - v for v in table["label"].to_pylist()], table["label"].type)
    pq.write_table(table.set_column(table.schema.get_field_index("label"), "label", flipped), shard)
    with pytest.raises(BuildTampered, match=rf"the base build of the view {out}: {own_base}: the rows in the shards "
                                            "do not match the build's fingerprint"):
        Build.open(out)
    # a base rebuilt as another build: a valid build, but not the one the view was made from
    shutil.rmtree(own_base)
    shutil.copytree(loop_benchmark, own_base)
    with pytest.raises(BuildTampered, match=rf"its base build {own_base} changed after the view was made.*"
                                            "make the view again: `mom-bench fold --data"):
        Build.open(out)


def test_a_moved_base_is_named_with_the_fix(own_base, tmp_path):
    out = tmp_path / "views" / "view"
    views.make_fold(own_base, "logo", "suno_3.5", out)
    moved_view = Path(shutil.move(out, tmp_path / "elsewhere"))
    assert isinstance(Build.open(moved_view), View)  # the relative path broke, the absolute one holds
    shutil.move(moved_view, out)
    shutil.move(own_base, tmp_path / "moved-base")
    with pytest.raises(ViewBaseMissing, match=r"the base build of this view \(mom\) is not where the view records "
                                              r"it: no build at '\.\./\.\./bases/mom'.*Move the base build back "
                                              r"there, or make the view again.*--held-out suno_3.5 .*--overwrite"):
        Build.open(out)
    r = CliRunner().invoke(main, ["info", str(out)])
    assert r.exit_code == 2 and "Move the base build back" in r.output


# --------------------------------------------------------------------------------------------------
# reading a view


def test_a_view_reads_like_a_build(mini_build, tmp_path):
    view = Build.open(views.make_fold(mini_build, "logo", "griffin_lim", tmp_path / "view").path)
    assert isinstance(view, View) and read.Build.open(view) is view
    ids = view.ids("train")
    assert [b for b, _ in view.members["train"]] == ["train", "test_id"]  # topped up from test_id
    assert [r["id"] for r in view.rows("train", ["id"])] == ids == view.table("train", ["id"])["id"].tolist()
    by_shard = [r["id"] for k in range(len(view.shards("train"))) for r in view.rows("train", ["id"], shard_index=k)]
    assert sorted(by_shard) == sorted(ids) and view.num_rows("train") == len(ids)
    block = view.row_range("train", ["id", "audio", "split"])
    seam = len(view.members["train"][0][1])
    assert block.n_rows == len(ids) and 5 <= seam <= len(ids) - 5
    got = list(block.rows(seam - 5, seam + 5))  # across the seam between the base's train and test_id rows
    assert [r["id"] for r in got] == ids[seam - 5:seam + 5] and all(r["split"] == "train" and r["audio"] for r in got)
    assert view.column_names("train") == Build.open(mini_build).column_names("train")
    assert view.decoder_families() == Build.open(mini_build).decoder_families()
    report = view.report()
    listed = {r["id"]: r for r in report["rows"]}
    assert all(listed[i]["split"] == "train" for i in ids)
    assert {listed[i]["status"] for i in view.left_out["held_out_in_training"]} == {"excluded"}
    assert report["benchmark"] == view.benchmark and "files" not in report
    assert view.info["view"]["held_out"] == ["griffin_lim"]
    with pytest.raises(NotABuiltBenchmark, match="a fold view over a build"):
        read.verify_build(view.path)  # the leaderboard's check of a build's own files


def test_datasets_load_gives_the_views_rows(mom_build, tmp_path):
    view = views.make_fold(mom_build, "logo", "suno_3.5", tmp_path / "view")
    loaded = views.load_dataset(view.path)
    assert list(loaded) == list(view.splits)
    for split in view.splits:
        assert list(loaded[split]["id"]) == view.table(split, ["id"])["id"].tolist()
        assert set(loaded[split]["split"]) == {split}
        assert list(loaded[split]["is_ood"]) == view.table(split, ["is_ood"])["is_ood"].tolist()
    one = views.load_dataset(view.path, "test_ood")
    assert list(one["id"]) == view.ids("test_ood") and set(one["generator"]) == {"real", "suno_3.5"}
    assert not list(tmp_path.glob("view/*.arrow"))  # datasets caches where it always does, not in the view


def test_view_names_resolve_the_base_benchmarks_models():
    from mom_bench.models import registry

    assert protocols.base_name("mom-mini~lofo-rvq-codec") == "mom-mini"
    assert protocols.base_name("mom-mini-lofo-rvq_codec~logo-mel_vocoder") == "mom-mini"
    assert registry.resolve("clam", "mom-mini~logo-rvq_codec").name == "clam-mini"


# --------------------------------------------------------------------------------------------------
# the loop on a view


def test_features_of_a_view_come_from_the_base_cache(loop_benchmark, tmp_path, monkeypatch):
    import torch

    import mom_bench as mb
    from mom_bench.loop.inference import split_logits
    from mom_bench.models import registry

    monkeypatch.setenv("MOM_BENCH_HOME", str(tmp_path / "home"))
    view = mb.make_fold(loop_benchmark, "logo", "gen_a", tmp_path / "view")
    assert view.fold["count_control"]["short_by"] == 3  # the fixture's test_id holds too few gen_b fakes
    base = mb.extract("clam-tiny", loop_benchmark, progress=False)
    assert sum(base.computed.values()) == sum(read.Build.open(loop_benchmark).num_rows(s) for s in base.computed)
    again = mb.extract("clam-tiny", view.path, progress=False)
    assert set(again.computed) == {"train", "validation", "test_id", "test_ood"}
    assert sum(again.computed.values()) == 0 and again.folders == base.folders
    model = registry.create("clam-tiny", view.benchmark).eval()
    for split in view.splits:
        logits = split_logits(model, view, split, progress=False)
        expected = {}
        for source, base_split in view.sources(split):
            ids = source.table(base_split, ["id"])["id"].tolist()
            expected.update(zip(ids, split_logits(model, source, base_split, progress=False).tolist()))
        assert torch.allclose(logits, torch.tensor([expected[i] for i in view.ids(split)]), atol=1e-6)


def test_train_and_evaluate_on_a_view_through_the_cli(loop_benchmark, tmp_path, monkeypatch):
    monkeypatch.setenv("MOM_BENCH_HOME", str(tmp_path / "home"))
    r = CliRunner().invoke(main, ["fold", "--data", str(loop_benchmark), "--leave-out", "generator",
                                  "--held-out", "gen_b", "--out", str(tmp_path / "view")])
    assert r.exit_code == 0, r.output
    assert "loop-fixture~logo-gen_b" in r.output and "9/12" in r.output and "3 fewer than the 12" in r.output
    view = Build.open(tmp_path / "view")
    cfg = tmp_path / "fast.yaml"
    cfg.write_text("lr: 0.02\nbatch_size: 8\nepochs: 2\n")
    r = CliRunner().invoke(main, ["train", "--model", "clam-tiny", "--data", str(view.path), "--config", str(cfg)])
    assert r.exit_code == 0, r.output
    run = tmp_path / "home" / "runs" / view.benchmark / "clam-tiny"
    saved = json.loads((run / "train_config.json").read_text())
    assert saved["dataset_fingerprint"] == view.fingerprint and saved["benchmark"] == view.benchmark
    r = CliRunner().invoke(main, ["evaluate", "--model", "clam-tiny", "--data", str(view.path), "--n-bootstrap", "20",
                                  "--no-plots"])
    assert r.exit_code == 0, r.output
    results = json.loads((run / "results" / "results.json").read_text())
    assert results["benchmark"]["name"] == "loop-fixture~logo-gen_b"
    assert (results["benchmark"]["fingerprint"], results["benchmark"]["label_fingerprint"]) == \
        (view.fingerprint, view.label_fingerprint)
    assert results["benchmark"]["dataset"] == str(view.path)
    scored = pd.read_csv(run / "results" / "predictions.csv")
    assert set(scored.loc[scored["split"] == "test_ood", "generator"]) == {"real", "gen_b"}
    assert results["coverage"]["splits"]["test_ood"]["coverage"] == 1.0


def test_the_fold_command_explains_itself_and_names_unknown_ids(mom_build, tmp_path):
    r = CliRunner().invoke(main, ["fold", "--help"])
    assert r.exit_code == 0
    for words in ("view", "test_ood", "Count control", "mom-bench train", "mom-bench evaluate", "--no-count-control"):
        assert words in r.output
    r = CliRunner().invoke(main, ["fold", "--data", str(mom_build), "--leave-out", "generator", "--held-out", "nope",
                                  "--out", str(tmp_path / "v")])
    assert r.exit_code == 2 and "no generator 'nope'" in r.output and "suno_3.5, udio_1.5" in r.output
    assert not (tmp_path / "v").exists()
    r = CliRunner().invoke(main, ["fold", "--data", str(mom_build), "--leave-out", "family", "--out",
                                  str(tmp_path / "all")])
    assert r.exit_code == 0, r.output
    assert "mom~lofo-rvq-codec" in r.output and "note: skipped mom~lofo-proprietary-unknown" in r.output
    assert (tmp_path / "all" / "mom~lofo-rvq-codec" / "view.json").is_file()
