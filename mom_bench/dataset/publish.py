"""Publishing a built benchmark on the Hugging Face Hub (`mom-bench push-dataset`), when its licence allows it.

A benchmark is published only when its protocol says its audio may be redistributed (``redistribution:``
``allowed``, with the reason and the licence notices that must travel with it); a protocol that says no, or says
nothing, is refused with its reason: the way to share such a benchmark is its protocol, which anyone builds from
the sources (``mom-bench build``). The build is verified first (a build edited after it was written is not
published), then its card (README.md: ClassLabel and Audio features, configs per split), shards, splits.csv and
build report go up in one commit with the notices, so ``datasets.load_dataset("owner/name")`` reads it as it
reads the folder.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from mom_bench.core import settings
from mom_bench.core.errors import ProtocolError, PushRefused, UnsafePath
from mom_bench.core.hub_upload import Pushed, check_repo_id, upload_files
from mom_bench.dataset import protocols
from mom_bench.dataset.read import REPORT_NAME, Build, View

#: The folder of mom-bench's shipped data: the only place a protocol's ``notices`` may name files from.
DATA = Path(__file__).resolve().parents[1] / "data"
#: The files of a build that are published (the rows cache, lock and unfinished work stay home).
PUBLISHED = ("README.md", "splits.csv", REPORT_NAME)


def redistribution_terms(protocol: protocols.BenchmarkProtocol) -> dict:
    """The protocol's ``redistribution`` entry when it allows publishing, else :class:`PushRefused` with why."""
    terms = protocol.redistribution
    if terms is None:
        raise PushRefused(f"{protocol.name}: its protocol ({protocol.path}) does not say whether its audio may be "
                          "redistributed (no `redistribution:` entry), so it is not published; share the protocol "
                          "instead, from which anyone builds it")
    if not terms["allowed"]:
        raise PushRefused(f"{protocol.name} may not be redistributed: {terms['reason']}. Share its protocol "
                          f"instead: `mom-bench build --benchmark {protocol.name}` makes the same build from the "
                          "sources")
    return terms


def notice_files(terms: dict) -> dict[str, Path]:
    """Path in the repository -> file, for the notices ``terms`` names (files or folders of :data:`DATA`)."""
    root = DATA.resolve()
    out: dict[str, Path] = {}
    for name in terms.get("notices") or []:
        path = (root / name).resolve()
        if not path.is_relative_to(root) or not path.exists():
            raise UnsafePath(f"redistribution notice {name!r}: not a file or folder of mom-bench's data ({root})")
        found = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        for p in found:
            if not p.resolve().is_relative_to(root):  # a link out of the data folder
                raise UnsafePath(f"redistribution notice {p}: leads out of mom-bench's data ({root})")
            out[p.relative_to(path.parent).as_posix()] = p
    return out


def push_dataset(data_dir: str | Path | None, repo_id: str, *, benchmark: str | None = None,
                 protocol: str | None = None, private: bool = False, branch: str | None = None,
                 message: str | None = None, say: Callable[[str], None] = lambda _: None) -> Pushed:
    """Push the build in ``data_dir`` (default: the default build of ``benchmark``) to the Hub dataset
    repository ``repo_id`` in one commit, and return that commit. ``protocol`` (a shipped name or a YAML file;
    default: the shipped protocol of the build's benchmark) declares whether it may be redistributed."""
    check_repo_id(repo_id)
    folder = Path(data_dir).expanduser() if data_dir is not None else \
        settings.default_dataset_dir(benchmark or protocols.DEFAULT)
    build = Build.open(folder, benchmark)  # verified: an edited build is refused here
    if isinstance(build, View):
        raise PushRefused(f"{folder} is a fold view over {build.base.path}; push that build (a view is made from it "
                          "with `mom-bench fold`)")
    try:
        proto = protocols.load(protocol or build.benchmark)
    except ProtocolError as err:
        raise PushRefused(f"{build.benchmark}: {err}; a benchmark of your own protocol file is published only with "
                          "--protocol FILE, whose `redistribution:` entry says it may be") from None
    if proto.name != build.benchmark:
        raise PushRefused(f"{folder} holds benchmark {build.benchmark!r}, but protocol {proto.name!r} was given")
    terms = redistribution_terms(proto)
    files: dict[str, Path | bytes] = {name: build.path / name for name in PUBLISHED}
    files.update({f"data/{p.name}": p for p in sorted((build.path / "data").glob("*.parquet"))})
    notices = notice_files(terms)
    clash = sorted(set(notices) & set(files))
    if clash:
        raise PushRefused(f"{proto.name}: notices {clash} would replace files of the build")
    files.update(notices)
    say(f"pushing {build.path} ({build.benchmark}, fingerprint {build.fingerprint[:16]}, {len(files)} files) to "
        f"{repo_id}: {terms['reason']}")
    return upload_files(files, repo_id, repo_type="dataset", private=private, branch=branch,
                        message=message or f"mom-bench push-dataset: {build.benchmark} "
                        f"{build.benchmark_version or ''} (fingerprint {build.fingerprint})".replace("  ", " "))
