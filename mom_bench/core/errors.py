"""The root of every error mom-bench raises on purpose.

A :class:`MomBenchError` is a problem the user can act on (a bad file, a missing checkpoint, a refused
submission); its message says what and, where it can, what to do. The CLI prints it as one line and exits
2. Anything else that escapes is a bug, reported as an internal error with exit status 1.

Each concrete error also derives from the builtin it used to be (``NotABuiltBenchmark`` is still a
``FileNotFoundError``), so existing ``except`` clauses keep working.

Every error class is defined here, grouped by family, and imported back by the module that raises it, so
``from mom_bench.loop.runs import NoTrainedModel`` and ``from mom_bench.core.errors import NoTrainedModel`` name
one class.
"""
from __future__ import annotations


class MomBenchError(Exception):
    """Base class of mom-bench's own errors: user-fixable, with an actionable message."""

    def __str__(self) -> str:
        # KeyError quotes its message and OSError may carry (errno, text); show the message as written.
        return str(self.args[0]) if len(self.args) == 1 else super().__str__()


# --- Files, folders and processes ---------------------------------------------------------------------------
class ForeignFolder(MomBenchError, FileExistsError):
    """A command was asked to replace a folder it did not make; nothing was touched."""


class FolderBusy(MomBenchError, BlockingIOError):
    """Another mom-bench process holds the writer lock of a folder."""


class ShardError(MomBenchError, ValueError):
    """A shard choice that cannot work (index out of range, mixed with a launcher's ranks...)."""


class UnsafePath(MomBenchError, ValueError):
    """A path mom-bench will not read or write through: one from a manifest or protocol that leaves its folder,
    or a leaderboard name that is not plain, or a symlink on the way into the leaderboard, or a file of a
    shared folder (feature cache) that is not a regular file or links out of that folder."""


# --- Names the user picks (detectors, benchmarks, suites, kinds) and the plugins that add them --------------
class UnknownNameError(MomBenchError, KeyError):
    """A name that no :class:`mom_bench.core.registry.Registry` holds; the message suggests the closest ones."""

    def __str__(self) -> str:
        # KeyError would quote the message; an error without arguments prints nothing.
        return str(self.args[0]) if self.args else ""


class UnknownModelError(UnknownNameError):
    """An unknown model name. ``str(err)`` is the full message (KeyError would quote it)."""


class PluginError(MomBenchError):
    """An installed plugin (entry point of the ``mom_bench.models`` group) that cannot be loaded; the message
    names the entry point, its package and the reason."""


# --- Benchmarks, suites and recipes as data -----------------------------------------------------------------
class ProtocolError(MomBenchError, ValueError):
    """A protocol file that cannot be used; the message names the file and the key."""


class SuiteError(MomBenchError, ValueError):
    """A suite file that cannot be used; the message names the file, the transform and the key."""


class TransformError(MomBenchError, ValueError):
    """A transform that cannot run on the input it was given; the message names the transform and why."""


class YamlRefused(MomBenchError, ValueError):
    """YAML text refused before it is built (nested too deep, or an alias where none is accepted); the
    message says which, and each loader adds the file."""


class TrainingConfigError(MomBenchError, ValueError):
    """A training config with an unknown key or a value out of range; the message names it."""


# --- Audio and the rows of a source (a row's error becomes its reported reason, not a failed build) ---------
class AudioError(MomBenchError):
    """Audio that cannot be used. ``str(err)`` is ``"<name>: <reason>"``."""

    def __init__(self, name: str, reason: str):
        self.name = name
        self.reason = reason
        super().__init__(f"{name}: {reason}")


class MissingAudio(MomBenchError):
    """Raised by ``fetch`` when a row's audio cannot be had (not downloaded, link dead, YouTube-only).
    The row is reported as ``missing`` with this message as the reason."""


class Excluded(MomBenchError):
    """Raised by ``fetch`` for a row the protocol leaves out on purpose (e.g. SONICS' filter of songs
    under 30 s). The row is reported as ``excluded`` with this reason; it does not fail the build."""


class DownloadError(MissingAudio):
    """A download that failed for good; the row is reported as missing with this message."""


class SegmentError(MomBenchError, ValueError):
    """Time segments that do not describe one song (unsorted, overlapping, a gap, outside the song, a label
    other than 0/1) or a timeline that cannot be used; the message names the song and the segment."""


class CorpusFilesMissing(MomBenchError, FileNotFoundError):
    """Files a source needs as a whole (an archive, a manifest, a shard) are not on this machine and cannot be
    fetched now (offline, not found, download failed). The message lists them and the command that fetches them."""


class AccessRefused(CorpusFilesMissing):
    """A gated or private dataset repo refused the download: its terms must be accepted on its page and the
    user logged in (``hf auth login``); the message gives both."""


class ManifestError(MomBenchError, ValueError):
    """A row list that cannot be read as a whole; the message names the file and the reason."""


class ManifestNotFound(MomBenchError, FileNotFoundError):
    pass


class UnusableRow(AudioError):
    """Raised by the ``fetch`` of a row the list itself garbles (wrong number of fields). It takes the
    builder's path for unusable audio, so the row is reported as ``unusable`` with this reason."""


# --- Building and reading a benchmark -----------------------------------------------------------------------
class BuildWriteFailed(MomBenchError, OSError):
    """Writing a build ran out of room (disk, quota or file size limit); the previous build is untouched."""


class ColumnClash(MomBenchError, ValueError):
    """Two metadata keys that would be stored in one column; the message names both."""


class NotABuiltBenchmark(MomBenchError, FileNotFoundError):
    """The folder is missing or does not hold a built benchmark; the message says how to build one."""


class BuildTampered(MomBenchError, ValueError):
    """The shards of a build no longer match its report (edited, added or deleted); the message names them."""


class BuildError(MomBenchError, RuntimeError):
    """A build that must not produce a dataset (broken protocol rules, leakage, bad options)."""


class FoldError(MomBenchError, ValueError):
    """A fold view that cannot be made as asked (an unknown held-out generator or family, a fold whose train
    would hold no fakes or whose test_ood would hold none); the message names the base and the fold."""


class ViewBaseMissing(NotABuiltBenchmark):
    """The build a fold view reads was not found where the view records it (moved or deleted); the message
    names the recorded paths and how to fix it."""


class NotEnoughSpace(MomBenchError, OSError):
    """The build would not fit on the target filesystem; nothing was written."""


# --- Detectors and their checkpoints ------------------------------------------------------------------------
class TargetError(MomBenchError, ValueError):
    """What was given to check names no detector (no registry row, importable object or saved folder)."""


class NotADetector(MomBenchError, TypeError):
    """An object that does not follow the detector contract; the message says what it lacks."""


class DetectorConfigError(MomBenchError, ValueError):
    """A detector config that cannot build a model (missing key, bad value); the message names it."""


class CacheInputError(MomBenchError, RuntimeError):
    """A song whose audio could not be decoded for feature extraction."""

    def __init__(self, item: str, reason: str):
        super().__init__(f"{item}: {reason}")
        self.item, self.reason = item, reason


class CheckpointError(MomBenchError, OSError):
    """A checkpoint (a saved detector or a pretrained encoder) is missing or unusable. The message says
    which one and how to supply it."""


class HubClassifierError(MomBenchError, ValueError):
    """A Hub classifier that cannot be used as asked (which label is fake, a bad option); the message lists
    the labels or says what to pass."""


# --- Runs: training, scoring, evaluation --------------------------------------------------------------------
class PrecisionError(MomBenchError, ValueError):
    """A precision name that is not one, or that this device cannot run."""


class WrongDataset(MomBenchError, ValueError):
    """The dataset folder holds another benchmark than the one asked for."""


class DeviceError(MomBenchError, ValueError):
    """A torch device name that is not one, or names hardware this machine lacks."""


class CheckpointStateError(MomBenchError, OSError):
    """A run folder whose optimizer state or trainer record is missing or unreadable."""


class NoTrainedModel(MomBenchError, FileNotFoundError):
    """No checkpoint where one was expected; the message says which command makes one."""


class TrainError(MomBenchError, RuntimeError):
    """A training run that cannot start or continue; the message says what to do."""


class RankStopped(MomBenchError, RuntimeError):
    """Rank 0 failed in work it did alone for every rank; the other ranks stop with its message."""


class ExtractionIncomplete(MomBenchError, RuntimeError):
    """Features of some rows are missing from the cache (a shard of a sharded extraction did not finish);
    the message names the missing shards."""


class PartRecordError(MomBenchError, ValueError):
    """A ``parts/`` record of a sharded extraction that is malformed or does not fit the split it describes;
    the message names the file and the field."""


class CacheWriteError(MomBenchError, OSError):
    """A feature shard could not be written (disk full, file-size limit, read-only cache folder)."""


class ExtractError(MomBenchError, ValueError):
    """A model that has no features to cache, or an option that cannot work."""


class PredictionError(MomBenchError, ValueError):
    """Scoring options that cannot be used (e.g. a threshold outside [0, 1])."""


class EvaluationError(MomBenchError, ValueError):
    """An evaluation that cannot run as asked (e.g. a split the dataset lacks)."""


class MatrixError(MomBenchError, ValueError):
    """A generalisation matrix that cannot run as asked (a training set without validation, no test split...)."""


class MetricsError(MomBenchError, ValueError):
    """Predictions or scoring options that cannot be scored; the message names the row or the option."""


class RobustnessError(MomBenchError, ValueError):
    """A robustness run that cannot run as asked (unknown transform, no test split...)."""


class DocumentError(MomBenchError, ValueError):
    """A document that does not have the shape mom-bench writes; the message lists every problem by path."""


# --- Sharing on the Hugging Face Hub -----------------------------------------------------------------------
class PushRefused(MomBenchError, ValueError):
    """What was asked to be pushed may not or cannot be published as it is (no results, results of other
    weights, a benchmark whose licence does not allow redistribution)."""


class HubPushError(MomBenchError, OSError):
    """The Hub refused or failed an upload (no token, no access, offline)."""


# --- Leaderboard --------------------------------------------------------------------------------------------
class EntryError(MomBenchError, ValueError):
    """Entries that cannot be rendered; ``problems`` lists each one."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("invalid leaderboard entries:\n" + "\n".join(f"  - {p}" for p in problems))


class RecipeError(MomBenchError, ValueError):
    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("invalid baseline recipes:\n" + "\n".join(f"  - {p}" for p in problems))


class SubmissionRejected(MomBenchError, ValueError):
    """A submission with problems; ``problems`` holds one line per problem."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__(f"submission rejected ({len(self.problems)} problem"
                         f"{'s' if len(self.problems) != 1 else ''}):\n" + "\n".join(f"  - {p}" for p in problems))
