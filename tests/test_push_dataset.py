"""Built datasets the Hugging Face way (ClassLabel and Audio features, card YAML) and `mom-bench push-dataset` to a
loopback Hub that takes uploads (tests/_loopback_hub.py), read back with ``datasets.load_dataset("owner/name")``;
benchmarks whose licence does not allow redistribution are refused, saying why."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml
from _loopback_hub import UploadHub

from mom_bench.core.errors import PushRefused
from mom_bench.dataset.publish import push_dataset
from tests._fixtures_loop import PROTOCOL, RATE


@pytest.fixture()
def hub():
    with UploadHub() as h:
        yield h


def _protocol_file(folder: Path, **extra) -> Path:
    raw = copy.deepcopy(PROTOCOL) | extra
    path = folder / "loop-fixture.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def _front_matter(readme: bytes | str) -> dict:
    text = readme.decode() if isinstance(readme, bytes) else readme
    return yaml.safe_load(text.split("---\n")[1])


def test_a_build_loads_with_class_label_and_audio_features(loop_benchmark, tmp_path):
    import datasets

    ds = datasets.load_dataset(str(loop_benchmark), split="test_ood", cache_dir=str(tmp_path / "hf"))
    assert isinstance(ds.features["label"], datasets.ClassLabel)
    assert ds.features["label"].names == ["real", "fake"]
    assert isinstance(ds.features["audio"], datasets.Audio) and ds.features["audio"].sampling_rate == RATE
    labels = ds.with_format(columns=["label", "label_name"])[:]
    assert set(labels["label"]) == {0, 1}  # the values every reader sees stay 0 / 1
    assert all(ds.features["label"].int2str(v) == n for v, n in zip(labels["label"], labels["label_name"]))
    meta = _front_matter((loop_benchmark / "README.md").read_text())
    assert meta["task_categories"] == ["audio-classification"]
    features = {f["name"]: f["dtype"] for f in meta["dataset_info"]["features"]}
    assert features["label"] == {"class_label": {"names": {"0": "real", "1": "fake"}}}
    assert features["audio"] == {"audio": {"sampling_rate": RATE}}
    counts = json.loads((loop_benchmark / "build_report.json").read_text())["counts"]["by_split"]
    assert {s["name"]: s["num_examples"] for s in meta["dataset_info"]["splits"]} == \
        {split: sum(gens.values()) for split, gens in counts.items()}


def test_push_dataset_uploads_the_build_in_one_commit_and_its_card_parses(hub, loop_benchmark, tmp_path):
    proto = _protocol_file(tmp_path, redistribution={"allowed": True, "reason": "generated test signals"})
    run = hub.run(["-m", "mom_bench", "push-dataset", str(loop_benchmark), "--repo", "lab/loop", "--protocol",
                   str(proto)], tmp_path)
    assert run.returncode == 0, run.stderr
    commit = next(line.split()[1] for line in run.stdout.splitlines() if line.startswith("commit:"))
    assert f'datasets.load_dataset("lab/loop", revision="{commit}")' in run.stdout
    files = hub.files("dataset", "lab/loop", commit)
    local = {p.relative_to(loop_benchmark).as_posix(): p for p in loop_benchmark.rglob("*")
             if p.is_file() and not p.name.startswith(".")}
    assert set(files) == set(local)  # the build as it is, without its rows cache and lock
    assert all(files[name] == path.read_bytes() for name, path in local.items())
    assert any(name.startswith("data/test_ood-") for name in files)

    # as a user reads it: datasets.load_dataset by Hub id at the pushed commit, with the card's features
    code = ("import json, datasets\n"
            f"ds = datasets.load_dataset('lab/loop', split='test_ood', revision='{commit}')\n"
            "print(json.dumps({'ids': list(ds['id']), 'labels': list(ds['label']),\n"
            "                  'names': ds.features['label'].names,\n"
            "                  'rate': ds.features['audio'].sampling_rate}))\n")
    got = hub.run_json(code, tmp_path)
    assert got["names"] == ["real", "fake"] and got["rate"] == RATE
    import pyarrow.parquet as pq

    local_rows = pq.read_table(sorted((loop_benchmark / "data").glob("test_ood-*.parquet")), columns=["id", "label"])
    assert got["ids"] == local_rows["id"].to_pylist() and got["labels"] == local_rows["label"].to_pylist()

    code = ("import json\n"
            "from huggingface_hub import DatasetCard, hf_hub_download\n"
            f"readme = hf_hub_download('lab/loop', 'README.md', repo_type='dataset', revision='{commit}')\n"
            "card = DatasetCard.load(readme)\n"
            "d = card.data\n"
            "print(json.dumps({'tasks': d.task_categories, 'license': d.license, 'name': d.pretty_name,\n"
            "                  'configs': d.configs, 'features': d.dataset_info['features']}))\n")
    got = hub.run_json(code, tmp_path)
    assert got["tasks"] == ["audio-classification"] and got["license"] == "other"
    assert got["name"] == PROTOCOL["title"]
    assert {f["split"] for f in got["configs"][0]["data_files"]} == {"train", "validation", "test_id", "test_ood"}
    assert {"name": "label", "dtype": {"class_label": {"names": {"0": "real", "1": "fake"}}}} in got["features"]


def test_benchmarks_that_may_not_be_redistributed_are_refused_saying_why(loop_benchmark, mom_build, tmp_path):
    with pytest.raises(PushRefused, match=r"may not be redistributed: its real songs and covers are YouTube audio"
                                          r".*mom-bench build --benchmark mom"):
        push_dataset(mom_build, "lab/mom")
    with pytest.raises(PushRefused, match="loop-fixture.*--protocol FILE"):
        push_dataset(loop_benchmark, "lab/loop")  # no shipped protocol of that name
    silent = _protocol_file(tmp_path)
    with pytest.raises(PushRefused, match=r"does not say whether its audio may be redistributed"):
        push_dataset(loop_benchmark, "lab/loop", protocol=str(silent))
    (tmp_path / "no").mkdir()
    refused = _protocol_file(tmp_path / "no", redistribution={"allowed": False, "reason": "the tones are not ours"})
    with pytest.raises(PushRefused, match="may not be redistributed: the tones are not ours"):
        push_dataset(loop_benchmark, "lab/loop", protocol=str(refused))
    from mom_bench.dataset import protocols

    assert not protocols.load("sonics").redistribution["allowed"]
    assert protocols.load("mom-mini").redistribution["allowed"]


def test_a_notice_outside_mom_benchs_data_is_refused(loop_benchmark, tmp_path):
    from mom_bench.core.errors import UnsafePath

    proto = _protocol_file(tmp_path, redistribution={"allowed": True, "reason": "r",
                                                     "notices": ["../../pyproject.toml"]})
    with pytest.raises(UnsafePath, match="not a file or folder of mom-bench's data"):
        push_dataset(loop_benchmark, "lab/loop", protocol=str(proto))


@pytest.mark.slow
def test_mom_mini_is_pushed_with_its_licence_notices_and_loads_with_its_features(hub, mini_build, tmp_path):
    import datasets

    ds = datasets.load_dataset(str(mini_build), split="test_id", cache_dir=str(tmp_path / "hf"))
    assert ds.features["label"].names == ["real", "fake"] and ds.features["audio"].sampling_rate == 24000
    run = hub.run(["-m", "mom_bench", "push-dataset", str(mini_build), "--repo", "lab/mom-mini"], tmp_path)
    assert run.returncode == 0, run.stderr
    files = hub.files("dataset", "lab/mom-mini")
    assert "ATTRIBUTION.csv" in files and "LICENSES/README" in files  # the notices, beside the data
    meta = _front_matter(files["README.md"])
    assert meta["license"] == "other" and "CC-BY-SA-3.0" in meta["license_name"]
