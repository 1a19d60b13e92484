"""The data card (README.md) of a built benchmark.

Its YAML front matter is what makes ``datasets.load_dataset(folder)`` work: one ``default`` config
with a ``data_files`` glob per split. The body is generated from the protocol and the build report, so
the counts on the card are always those of the files beside it.
"""
from __future__ import annotations

import yaml

from mom_bench.core.splits import SPLITS, TEST_SPLITS

_LICENSE_IDS = {"CC-BY-NC-4.0": "cc-by-nc-4.0", "CC-BY-SA-3.0": "cc-by-sa-3.0", "CC-BY-4.0": "cc-by-4.0",
                "MIT": "mit", "Apache-2.0": "apache-2.0"}


def hub_license(spdx: str) -> tuple[str, str | None]:
    """The Hub's licence id for an SPDX licence (expression), and the licence's name when the Hub has no id
    for it (``other``, with ``license_name``: https://huggingface.co/docs/hub/repositories-licenses).

    >>> hub_license("CC-BY-NC-4.0"), hub_license("CC-BY-SA-3.0 AND MIT")
    (('cc-by-nc-4.0', None), ('other', 'CC-BY-SA-3.0 AND MIT'))
    """
    lic = _LICENSE_IDS.get(spdx)
    return (lic, None) if lic else ("other", spdx)


def front_matter(protocol, present_splits: list[str], features=None, split_sizes: dict | None = None,
                 split_bytes: dict | None = None) -> dict:
    """The card's YAML front matter. ``dataset_info.splits`` is written only with both ``split_sizes``
    (rows) and ``split_bytes`` (arrow bytes) of every split: datasets ignores the whole ``splits`` field, with
    a warning at every load, when an entry lacks ``num_bytes``, and checks ``num_examples`` when it loads."""
    lic, license_name = hub_license(protocol.license)
    meta = {
        "pretty_name": protocol.title,
        "license": lic,
        "task_categories": ["audio-classification"],
        "tags": ["music", "deepfake-detection", "ai-generated-music", "mom-bench"],
        "configs": [{
            "config_name": "default",
            "data_files": [{"split": s, "path": f"data/{s}-*.parquet"} for s in present_splits],
        }],
    }
    if license_name:
        meta["license_name"] = license_name
    if features is not None:
        meta["dataset_info"] = {"features": features._to_yaml_list()}
        if split_sizes and split_bytes and all(s in split_sizes and s in split_bytes for s in present_splits):
            meta["dataset_info"]["splits"] = [{"name": s, "num_bytes": int(split_bytes[s]),
                                               "num_examples": int(split_sizes[s])} for s in present_splits]
    return meta


def _table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def render_card(protocol, report: dict, features=None, split_bytes: dict | None = None) -> str:
    """The README.md of a build: front matter (see :func:`front_matter`) and a body made from ``report``."""
    counts = report["counts"]
    by_split = counts["by_split"]
    present = [s for s in SPLITS if s in by_split]
    gen_ids = ["real"] + [g.id for g in protocol.generators]
    names = {"real": "Real"} | {g.id: g.name for g in protocol.generators}
    count_rows = []
    for gid in gen_ids:
        cells = [by_split.get(s, {}).get(gid, 0) for s in present]
        if any(cells):
            count_rows.append([names[gid]] + cells + [sum(cells)])
    totals = [sum(by_split.get(s, {}).values()) for s in present]
    count_rows.append(["**total**"] + totals + [sum(totals)])
    gen_rows = [[g.id, g.name, g.family, "train (in-distribution)" if g.role == "train" else "OOD (test_ood only)"]
                for g in protocol.generators]
    real_rows = [[r.id, r.name, ", ".join(r.group_by) or "(row)"] for r in protocol.reals]
    audit = report["leakage_audit"]
    sc_text = _shortcut_text(report.get("shortcut_check") or {})
    verdict = "passed" if audit["ok"] else "FAILED"
    seg_col = (", `segments` (where in the song the AI is: a list of `{start, end, label, generator}` in seconds, "
               "sorted, tiling the stored audio)") if report.get("segments") else ""
    body = f"""# {protocol.title}

{protocol.description.strip()}

Built by `mom-bench build --benchmark {protocol.name}` (mom-bench {report['mom_bench_version']}), benchmark
version **{protocol.version}**, split mode `{report['split_mode']}`.
Fingerprint: `{report['fingerprint']}`.

## Loading

```python
import datasets
ds = datasets.load_dataset("path/to/this/folder", split="test_ood")
row = ds[0]
wave, rate = row["audio"]["array"], row["audio"]["sampling_rate"]
```

{_audio_text(protocol, report['audio'])}
Default model input (clip policy): `{protocol.clip_policy}`. Labels: 0 real, 1 fake (`label_name`).

## Counts (rows written, split x generator)

{_table(['generator'] + present + ['all'], count_rows)}

Rows listed: {counts['rows']}; written {counts['written']}, missing {counts['missing']}, unusable
{counts['unusable']}, excluded by the protocol {counts.get('excluded', 0)} (each with its reason in
`build_report.json`).

{_segments_text(report)}## Generators

{_table(['id', 'name', 'family', 'role'], gen_rows)}

OOD generators appear only in `test_ood`. `test_id` holds held-out songs of the training generators.

## Real sources

{_table(['id', 'name', 'grouped by'], real_rows)}

## Splits

{_split_rule(protocol, audit)} Songs with identical decoded audio are joined into one group. Leakage audit: {verdict}
({audit['n_groups']} groups, {audit['rows_moved_by_duplicates']} rows moved by duplicate audio).

{sc_text}

## Shortcuts found in this build

{_metadata_text(report.get("metadata_shortcuts"))}

## Columns

`id`, `audio`, `label`, `label_name`, `split`, `generator`, `generator_name`, `generator_family`, `is_ood`,
`source`, `group_id`, `duration_s`, `orig_codec`, `orig_sample_rate`, `orig_channels`, `orig_bit_rate`,
`orig_duration_s` (the input file's format: compare them across generators before trusting a detector),
`content_sha256` (sha256 of the stored 16-bit PCM), `orig_bytes` (the input file's size), `pcm16k_sha256` and
`pcm16k_print` (hash and fingerprint of the input's first 30 s at 16 kHz, for finding the same songs in other
builds){seg_col}, plus source metadata columns.

## Licence

{protocol.license}. The audio keeps the licences of its sources; see the benchmark's data card in the
mom-bench repository (`data_cards/{protocol.name}.md`).

## Citation

```bibtex
{protocol.citation.strip()}
```
"""
    sizes = {s: sum(by_split[s].values()) for s in present}
    front = yaml.safe_dump(front_matter(protocol, present, features, sizes, split_bytes), sort_keys=False)
    return "---\n" + front + "---\n\n" + body


def _segments_text(report: dict) -> str:
    """The card's sections on segments (builds with a ``segments`` column) and on the build a derived benchmark
    was made from; empty for other builds."""
    text = ""
    base = report.get("base_build")
    if base:
        patterns = "\n".join(f"- `{p['id']}`: {', '.join(p['sections'])}" + (f" ({p['description']})"
                                                                             if p.get("description") else "")
                             for p in base.get("patterns") or [])
        by_reason: dict[tuple[str, str], list[str]] = {}
        for split, by in (base.get("skipped") or {}).items():
            for pid, why in by.items():
                by_reason.setdefault((pid, why), []).append(split)
        skipped = "; ".join(f"`{pid}` in {', '.join(splits)}: {why}" for (pid, why), splits in by_reason.items())
        text += f"""## Made from

Made by `mom-bench build -b splice --from BASE` from the base build {base['benchmark']}
{base['benchmark_version']}, fingerprint `{base['fingerprint']}` (label fingerprint
`{base.get('label_fingerprint')}`), verified before use. Every song takes its parts from one split of the base
and lands in that split. Patterns ({base.get('songs_per_pattern')} songs per split and pattern, seed
{base.get('seed')}, crossfade {base.get('crossfade_ms')} ms, sections of at most {base.get('section_seconds')} s):

{patterns}

{('Not made: ' + skipped + '.') if skipped else 'Every pattern was made in every split.'}

"""
    segs = report.get("segments")
    if segs:
        rows = [[s, e["songs"], e["songs_with_ai"], e["segments"], f"{e['ai_time_share']:.3f}",
                 ", ".join(f"{p} {n}" for p, n in e.get("patterns", {}).items()) or "-"] for s, e in segs.items()]
        text += f"""## Segments

The `segments` column says where in each song the AI is (label 1) and which generator made it; a song's `label`
is 1 when it contains any AI. Boundaries are at the midpoints of the crossfades between parts.

{_table(['split', 'songs', 'with AI', 'segments', 'AI time share', 'songs per pattern'], rows)}

"""
    return text


def _audio_text(protocol, audio: dict) -> str:
    """What the ``audio`` column holds: the build's storage option (``--store``) and stored length."""
    if audio.get("keep_original"):
        return ("Audio: each input file's bytes as they were (`--store original`: its own codec, rate and channels, "
                "see the `orig_*` columns), whole songs; every file was decoded once at build time to check it. "
                f"`content_sha256` is the hash of its decoding at {protocol.sample_rate} Hz, mono, on the 16-bit grid.")
    length = "full songs" if not audio.get("max_seconds") else f"first {audio['max_seconds']:g} s"
    return f"Audio: mono FLAC at {protocol.sample_rate} Hz, 16-bit (`--store flac`), {length}."


def _shortcut_text(sc: dict) -> str:
    """What the shortcut check (mom_bench.dataset.shortcut) measures, its warning level and its figure."""
    threshold = sc.get("threshold", 0.65)
    features = ", ".join(f"`{f}`" for f in sc.get("features") or [])
    what = ("Shortcut check: can global signal statistics alone tell the fakes from the reals? A standardised "
            "logistic regression and a depth-3 decision tree (balanced class weights) are trained on the train "
            f"split's statistics of the stored audio ({features + '; ' if features else ''}"
            "`mom_bench.core.signal_stats`, "
            "the features of the `stats-lr` reference detector) and scored on test_id + test_ood, fake = positive; "
            f"the build warns when the better balanced accuracy exceeds {threshold:g} (not F1: calling every row "
            "fake scores F1 0.667 on a balanced test set).")
    if not isinstance(sc.get("f1"), (int, float)):
        return f"{what} Result: not available ({sc.get('error') or sc.get('skipped') or 'n/a'})."
    best = (sc.get("per_classifier") or {}).get(sc.get("classifier") or "", {})
    parts = [f"AUC {best['auc']:.3f}"] if isinstance(best.get("auc"), (int, float)) else []
    parts += [f"F1 {s} {best[s]:.3f}" for s in TEST_SPLITS if isinstance(best.get(s), (int, float))]
    detail = f"{str(sc.get('classifier') or '?').replace('_', ' ')}" + (f": {', '.join(parts)}" if parts else "")
    if isinstance(sc.get("chance_f1"), (int, float)):
        detail += f"; chance F1 {sc['chance_f1']:.3f}"
    verdict = (f"WARNING: above the {threshold:g} warning level, global statistics alone separate the classes"
               if sc.get("warn") else f"below the {threshold:g} warning level")
    ba = f"balanced accuracy {sc['balanced_accuracy']:.3f}, " if isinstance(sc.get("balanced_accuracy"), float) else ""
    return (f"{what} Result: {ba}F1 {sc['f1']:.3f} ({detail}), {verdict}. A detector should clearly beat this "
            "figure and `stats-lr` (`mom-bench train --model stats-lr`).")


def _split_rule(protocol, audit: dict) -> str:
    """How splits were decided: by hashing, or (content-paired sources such as mom-mini) by the source."""
    if audit.get("preassigned_rows"):
        return (f"{audit['preassigned_rows']} rows came with a split assigned by their source (content-paired: a "
                "track and every fake made from it share one split; see the benchmark's data card), audited "
                "here like hashed ones.")
    return (f"A group's split comes from sha256(salt `{protocol.salt}`, group key) against fixed weights, so it "
            "never depends on row order and adding rows never moves existing ones. Weights: reals "
            f"{protocol.real_weights}; in-distribution fakes {protocol.fake_id_weights}.")


def _metadata_text(ms: dict | None) -> str:
    """The card's list of shortcuts in the input files and ids (mom_bench.dataset.shortcut.metadata_shortcuts)."""
    if not ms:
        return "Not checked (a build made before these checks)."
    what = (f"Each generator's fakes against the reals, one column at a time: a byte size shared by "
            f"{ms.get('constant_share', 0.9):.0%} of a generator's input files, and a rule on one of "
            f"{', '.join(f'`{c}`' for c in ms.get('columns') or [])} alone reaching a balanced accuracy of "
            f"{ms.get('separates_at', 0.95):g} (generators with at least {ms.get('min_rows', 5)} rows). A detector "
            "sees only the audio, but the format columns are in the audio (rate, codec, length), and ids that "
            "encode the generator leak it to any split or join made on them.")
    if ms.get("error") or ms.get("skipped"):
        return f"{what}\n\nNot run: {ms.get('error') or ms.get('skipped')}."
    findings = ms.get("findings") or []
    if not findings:
        return f"{what}\n\nNone found."
    return what + "\n\n" + "\n".join(f"- {f}" for f in findings)
