"""Options and checks that several commands share, declared once so their help reads the same everywhere."""
from __future__ import annotations

from pathlib import Path

import click

from mom_bench.cli.app import UserError

MODEL_HELP = ("Registry name of the trained model (e.g. clam), or hf:<Hub id or folder>[@revision]: any "
              "transformers audio classifier (AutoModelForAudioClassification + its feature extractor; no remote "
              "code).")

model_option = click.option("--model", "-m", "model_name", required=True, help=MODEL_HELP)
data_option = click.option("--data", "data_dir", type=click.Path(path_type=Path), default=None,
                           help="Built benchmark folder. Default: $MOM_BENCH_HOME/datasets/<benchmark>.")
benchmark_option = click.option("--benchmark", "-b", default=None,
                                help="Benchmark whose default folder to use (default: mom-mini).")
device_option = click.option("--device", default=None, help="torch device (default: cuda if available, else cpu).")
checkpoint_option = click.option(
    "--checkpoint", default=None,
    help="Saved detector folder, or Hub id owner/name[@revision] (pin a commit). Default: the best/ checkpoint of "
         "`mom-bench train --model NAME`.")
num_workers_option = click.option(
    "--num-workers", type=click.IntRange(0), default=0, show_default=True,
    help="Decode worker processes feeding the model (a DataLoader; each with its own decoder and one thread; "
         "with --robustness they run the transforms too). Results do not depend on it; 0 decodes in the main "
         "process.")
precision_option = click.option(
    "--precision", type=click.Choice(["fp32", "bf16", "fp16", "auto"]), default="fp32", show_default=True,
    help="Numeric precision of the encoders/model (autocast). fp32 reproduces the papers; bf16 is faster on "
         "GPUs and on CPUs with AMX/AVX512-BF16 and moves scores slightly (docs/scaling.md); fp16 is CUDA only; "
         "auto picks bf16 where the hardware has it. Recorded in what the command writes (results.json, the "
         "feature cache key, predict's output header).")
num_shards_option = click.option(
    "--num-shards", type=click.IntRange(1), default=None,
    help="Split the work into this many shards (array jobs of a cluster scheduler); with --shard-index. Each "
         "shard computes a contiguous block of whole batches of every split into the cache.")
shard_index_option = click.option(
    "--shard-index", type=click.IntRange(0), default=None,
    help="Which shard this process computes (0-based), e.g. $SLURM_ARRAY_TASK_ID.")
fake_label_option = click.option(
    "--fake-label", default=None, metavar="NAME",
    help="hf: models: the label whose probability is P(fake) (name or id). Default: chosen when the model has "
         "exactly two labels, one real/human/bonafide/genuine, the other fake/ai/spoof/generated/synthetic.")
HF_CLIP_HELP = ("clip policy of each song, e.g. first:30, full. Default: the longest input the feature extractor "
                "declares, else first:30")
clip_option = click.option("--clip", default=None, metavar="POLICY", help=f"hf: models: {HF_CLIP_HELP}.")


def comma_list(text: str | None) -> list[str] | None:
    """The non-empty items of a comma-separated option, or None when it was not given.

    >>> comma_list("test_id, test_ood,"), comma_list(None)
    (['test_id', 'test_ood'], None)
    """
    return [s.strip() for s in text.split(",") if s.strip()] if text else None


def hf_only(model_name: str, fake_label: str | None, clip: str | None) -> None:
    """--fake-label and --clip belong to hf: models: a usage error for any other."""
    given = [flag for flag, value in (("--fake-label", fake_label), ("--clip", clip)) if value is not None]
    if given and not model_name.startswith("hf:"):
        raise UserError(f"{' and '.join(given)} apply only to hf: models (--model hf:<Hub id or folder>); "
                        f"{model_name} is a registry model, whose configuration fixes its clip")
