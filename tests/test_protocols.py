"""Protocols as data: the shipped benchmarks load, and every kind of mistake in a file is refused with
a message naming the file and the key."""
from __future__ import annotations

import copy

import pytest
import yaml

from mom_bench.dataset import protocols
from mom_bench.dataset.protocols import ProtocolError

MOM_ROLES = {  # MoM (arXiv 2512.00621) and its released manifests: generator -> role
    "suno_3.5": "train", "udio_1.5": "train", "diffrhythm": "train", "suno_2": "train",
    "riffusion": "ood", "yue": "ood", "suno_3": "ood", "ai_covers": "ood", "suno_4": "ood",
}


def test_shipped_benchmarks_are_listed_and_load():
    names = protocols.names()
    assert {"mom", "sonics"} <= set(names)
    for name in names:
        p = protocols.load(name)
        assert p.name == name
        assert p.version
        assert p.sample_rate > 0


def test_mom_has_the_nine_generators_and_their_roles():
    p = protocols.load("mom")
    assert {g.id: g.role for g in p.generators} == MOM_ROLES
    assert set(p.ood_generators) == {"riffusion", "yue", "suno_3", "ai_covers", "suno_4"}
    assert p.license == "CC-BY-NC-4.0"
    assert p.clip_policy == "first:90" and p.sample_rate == 24000
    assert {r.id for r in p.reals} == {"real_songs", "real_yt_covers"}
    # the official mode's reals keep the fakes' train share (47,901 / 64,950 = 0.7375)
    off = p.official_weights["reals"]
    assert off["train"] + off["validation"] == pytest.approx(47901 / 64950, abs=1e-3)
    assert "test_id" not in off


def test_sonics_uses_its_generators_and_no_ood():
    p = protocols.load("sonics")
    assert {g.family for g in p.generators} == {"suno", "udio"}
    assert p.ood_generators == []
    assert p.license == "CC-BY-NC-4.0"


def test_typo_in_benchmark_name_suggests_the_right_one():
    with pytest.raises(ProtocolError, match="did you mean 'mom'"):
        protocols.load("mmo")


def _mom_raw():
    return copy.deepcopy(yaml.safe_load(protocols.path_of("mom").read_text()))


def _write(tmp_path, raw):
    path = tmp_path / "bench.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


@pytest.mark.parametrize("mutate, expected", [
    (lambda r: r.update(sallt="x"), r"bench.yaml: unknown key\(s\) 'sallt'"),
    (lambda r: r.pop("license"), r"bench.yaml: missing key\(s\) license"),
    (lambda r: r["splits"]["reals"].update(train=0.7), r"bench.yaml: splits.reals: weights sum to"),
    (lambda r: r["generators"][0].update(role="heldout"), r"bench.yaml: generators\[0\].role: unknown role 'heldout'"),
    (lambda r: r["generators"][0].update(famly="x"),
     r"generators\[0\]: unknown key\(s\) 'famly' \(did you mean 'family'\?\)"),
    (lambda r: r["splits"]["fakes_id"].update(test_ood=0.0), r"splits.fakes_id: split 'test_ood' not allowed"),
    (lambda r: r["source"].update(kind="mmo"), r"source.kind: unknown kind 'mmo' \(did you mean 'mom'\?\)"),
    (lambda r: r.update(clip_policy="first"), r"clip_policy"),
    (lambda r: r["audio"].update(format="mp3"), r"audio.format"),
    (lambda r: r["generators"].append(dict(r["generators"][0])), r"duplicated"),
])
def test_bad_protocol_files_are_refused_naming_file_and_key(tmp_path, mutate, expected):
    raw = _mom_raw()
    mutate(raw)
    with pytest.raises(ProtocolError, match=expected):
        protocols.load(str(_write(tmp_path, raw)))


def test_a_valid_copy_loads_from_a_path(tmp_path):
    p = protocols.load(str(_write(tmp_path, _mom_raw())))
    assert p.name == "mom" and len(p.generators) == 9


def test_a_deeply_nested_protocol_is_refused_before_it_is_built(tmp_path):
    """issue 26 item 7: a 1 MiB block of nested mappings (``{a: {a: ...``) is refused at the first level past
    the allowed depth instead of being parsed for minutes."""
    from mom_bench.core.loader import MAX_YAML_DEPTH

    deep = tmp_path / "deep.yaml"
    deep.write_text("{a: " * (1 << 18))
    assert deep.stat().st_size == 1 << 20
    with pytest.raises(ProtocolError) as err:
        protocols.load(str(deep))
    assert str(err.value) == (f"{deep}: nesting reaches level {MAX_YAML_DEPTH + 1} at line 1, column "
                              f"{4 * MAX_YAML_DEPTH + 1}; a protocol may nest at most {MAX_YAML_DEPTH} levels")


def test_every_source_kind_a_protocol_may_name_has_a_source_class_and_no_other():
    from mom_bench.dataset.sources import SOURCE_CLASSES

    assert set(protocols.SOURCE_KINDS) == set(SOURCE_CLASSES)
    for kind in SOURCE_CLASSES:
        assert callable(getattr(SOURCE_CLASSES.load(kind), "rows", None)), kind


def test_the_shipped_protocols_validate_against_the_protocol_schema():
    from mom_bench.core import json_schema

    assert json_schema.unsupported_keywords(protocols.SCHEMA) == []
    for name in protocols.names():
        raw = yaml.safe_load(protocols.path_of(name).read_text())
        assert json_schema.validate(raw, protocols.SCHEMA) == [], name
