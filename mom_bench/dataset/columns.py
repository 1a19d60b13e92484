"""The columns of a built benchmark and their Hugging Face features (docs/architecture.md)."""
from __future__ import annotations

import pyarrow as pa

from mom_bench.core.errors import ColumnClash

#: Fixed columns, in output order. Source metadata columns follow them.
FIXED = ("id", "audio", "label", "label_name", "split", "generator", "generator_name", "generator_family",
         "is_ood", "source", "group_id", "duration_s", "orig_codec", "orig_sample_rate", "orig_channels",
         "orig_bit_rate", "orig_duration_s", "content_sha256", "orig_bytes", "pcm16k_sha256", "pcm16k_print")

_ARROW = {
    "id": pa.string(), "label": pa.int64(), "label_name": pa.string(), "split": pa.string(),
    "generator": pa.string(), "generator_name": pa.string(), "generator_family": pa.string(),
    "is_ood": pa.bool_(), "source": pa.string(), "group_id": pa.string(), "duration_s": pa.float64(),
    "orig_codec": pa.string(), "orig_sample_rate": pa.int64(), "orig_channels": pa.int64(),
    "orig_bit_rate": pa.int64(), "orig_duration_s": pa.float64(), "content_sha256": pa.string(),
    "orig_bytes": pa.int64(), "pcm16k_sha256": pa.string(), "pcm16k_print": pa.binary(),
}


#: The optional column of builds whose source gives segments (spliced songs): where in the song the AI is, a
#: sorted list tiling ``[0, duration_s]`` of the stored audio (``mom_bench.core.segments``). A build without it
#: means one whole-file segment per row.
SEGMENTS = "segments"
SEGMENT_ARROW = pa.list_(pa.struct([("start", pa.float64()), ("end", pa.float64()), ("label", pa.int8()),
                                    ("generator", pa.string())]))


def meta_column_name(key: str) -> str:
    """Source metadata keys that clash with a fixed column get a ``meta_`` prefix."""
    return f"meta_{key}" if key in FIXED else key


def meta_column_names(keys, *, where: str = "metadata") -> dict[str, str]:
    """Metadata key -> its column (:func:`meta_column_name`), refusing two keys that land in one column
    (``audio`` and ``meta_audio``): one of the two values would otherwise be dropped without a word.

    >>> meta_column_names(["artist", "audio"])
    {'artist': 'artist', 'audio': 'meta_audio'}
    >>> try:
    ...     meta_column_names(["audio", "meta_audio"], where="rows.csv")
    ... except ColumnClash as err:
    ...     print(err)
    rows.csv: metadata columns 'audio' and 'meta_audio' would both be stored as column 'meta_audio' ('audio' is a column of every build); rename one of them
    """  # noqa: E501 (a doctest's expected output: the exception message is one line)
    taken: dict[str, str] = {}
    for key in sorted(keys):
        column = meta_column_name(key)
        if column in taken:
            first, second = sorted((taken[column], key))
            clashing = next(k for k in (first, second) if k in FIXED)
            raise ColumnClash(f"{where}: metadata columns {first!r} and {second!r} would both be stored as column "
                              f"{column!r} ({clashing!r} is a column of every build); rename one of them")
        taken[column] = key
    return {key: meta_column_name(key) for key in keys}


def infer_meta_types(values_by_key: dict[str, set]) -> dict[str, pa.DataType]:
    """One arrow type per metadata column from the Python types seen in it (strings win)."""
    types = {}
    for key, kinds in sorted(values_by_key.items()):
        kinds = kinds - {type(None)}
        if not kinds or str in kinds or len(kinds - {int, float, bool}) > 0:
            types[key] = pa.string()
        elif kinds == {bool}:
            types[key] = pa.bool_()
        elif kinds <= {int, bool}:
            types[key] = pa.int64()
        else:
            types[key] = pa.float64()
    return types


#: The class names of ``label``, by value (the ``ClassLabel`` of the built dataset).
LABEL_NAMES = ("real", "fake")


def features(meta_types: dict[str, pa.DataType], sample_rate: int | None = None, *, segments: bool = False):
    """The build's Hugging Face features: ``label`` a ``ClassLabel`` (0 real, 1 fake: its arrow type stays
    int64, so the values every reader sees are unchanged), ``audio`` an ``Audio`` at ``sample_rate`` (the rate
    the build stored; None for ``--store original``, whose files keep their own rates), with ``segments``
    the :data:`SEGMENTS` column (a list of ``{start, end, label, generator}``) after the fixed ones, the rest
    plain values."""
    import datasets

    spec = {}
    for name in FIXED:
        if name == "audio":
            spec[name] = datasets.Audio(sampling_rate=sample_rate)
        elif name == "label":
            spec[name] = datasets.ClassLabel(names=list(LABEL_NAMES))
        else:
            spec[name] = datasets.Value(_arrow_to_hf(_ARROW[name]))
    if segments:
        spec[SEGMENTS] = [{"start": datasets.Value("float64"), "end": datasets.Value("float64"),
                           "label": datasets.Value("int8"), "generator": datasets.Value("string")}]
    for key, column in meta_column_names(meta_types).items():
        spec[column] = datasets.Value(_arrow_to_hf(meta_types[key]))
    return datasets.Features(spec)


def _arrow_to_hf(t: pa.DataType) -> str:
    return {pa.string(): "string", pa.int64(): "int64", pa.float64(): "float64", pa.bool_(): "bool",
            pa.binary(): "binary"}[t]
