"""`mom-bench predict`: P(fake) of audio files (:mod:`mom_bench.loop.prediction`)."""
from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import click

from mom_bench.cli.app import UserError
from mom_bench.cli.options import (
    checkpoint_option,
    clip_option,
    device_option,
    fake_label_option,
    hf_only,
    model_option,
)
from mom_bench.cli.output import format_option, print_rows
from mom_bench.core.splits import RowStatus


def _ignored_note(ignored: list[Path], name: Callable[[Path], str]) -> str:
    """'N file(s) without an audio extension not scored, e.g. ...', or '' when there are none."""
    if not ignored:
        return ""
    more = ", ..." if len(ignored) > 3 else ""
    return (f"{len(ignored)} file(s) without an audio extension not scored: "
            f"{', '.join(name(p) for p in ignored[:3])}{more}")


@click.command("predict")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@model_option
@checkpoint_option
@click.option("--benchmark", "-b", default=None, help="Benchmark the model was trained on (default: mom-mini).")
@format_option
@click.option("--threshold", type=click.FloatRange(0, 1), default=0.5, show_default=True,
              help="P(fake) at or above which a file is called fake.")
@device_option
@fake_label_option
@clip_option
def predict_cmd(files, model_name, checkpoint, benchmark, fmt, threshold, device, fake_label, clip):
    """P(fake) for each audio FILE (folders are searched recursively).

    Songs longer than the model's clip are scored over consecutive windows of the clip length; the
    file's score is sigmoid(mean of the window logits). A file that cannot be read gets its error on
    its row and the others are still scored; the exit status is 1 if any file failed.

    Every FILE given gets a row, and so does every file with an audio extension found in a folder: a FIFO,
    a dangling symlink or an unreadable file or folder gets an error row saying so. Symlinked folders are
    followed, each real folder searched once (a symlink loop gets an error row). Files of searched folders
    without an audio extension are counted on stderr, not scored. Names that are not valid UTF-8 are read
    and shown with backslash escapes (caf\\xe9.flac), so the output is always valid UTF-8.

    
    Examples:
      mom-bench predict song.mp3 --model clam
      mom-bench predict songs/ --model hf:owner/name@<commit> --format json
    (an hf: model's chosen fake label is said on stderr)
    """
    from mom_bench.core.inputs import AUDIO_EXTENSIONS
    from mom_bench.loop import prediction as predict_mod

    hf_only(model_name, fake_label, clip)
    found = predict_mod.find_inputs(files, AUDIO_EXTENSIONS)
    given = ", ".join(predict_mod.display_name(f) for f in files)
    if not found.inputs:
        ignored = _ignored_note(found.ignored, predict_mod.display_name)
        raise UserError(f"no audio files found in {given}" + (f" ({ignored})" if ignored else ""))
    rows, model = predict_mod.predict(found.inputs, model_name, benchmark=benchmark, checkpoint=checkpoint,
                                      device=device, threshold=threshold, progress=fmt == "table",
                                      fake_label=fake_label, clip=clip)
    if found.ignored:
        click.echo(f"note: {_ignored_note(found.ignored, predict_mod.display_name)}", err=True)
    if getattr(model, "choice_note", None):  # a Hub classifier: which label was taken as fake
        click.echo(model.choice_note, err=True)
    bad = sum(r["status"] != RowStatus.OK for r in rows)
    print_rows(rows, predict_mod.COLUMNS, fmt,
               document={"model": model.name, "aggregation": predict_mod.AGGREGATION, "rows": rows},
               summary=f"{len(rows)} files scored by {model.name}: {len(rows) - bad} ok, {bad} failed")
    if bad:
        sys.exit(1)
