"""One registry for every named thing a user picks: detectors, benchmarks, robustness suites, source kinds,
transform kinds and training families.

A :class:`Registry` maps names (and aliases) to entries. An entry may be a lazy ``"module:attr"`` string that
is imported only when used, so listing names imports nothing heavy. A name that is not there raises the
registry's error with a "did you mean" hint, the same wording wherever a user mistypes a name; third-party
packages can add entries through an entry-point group.

This module imports only :mod:`mom_bench.core.errors` and the standard library: everything else builds on it.

>>> kinds = Registry("colour", {"red": "mom_bench.core.errors:MomBenchError", "green": 2}, aliases={"rot": "red"})
>>> kinds.get("rot") is kinds.get("red"), "green" in kinds, kinds.names()
(True, True, ['red', 'green'])
>>> kinds.load("red").__name__
'MomBenchError'
>>> kinds.get("gren")
Traceback (most recent call last):
...
mom_bench.core.errors.UnknownNameError: unknown colour 'gren' (did you mean 'green'?); known: red, green
>>> did_you_mean("epoch", ["epochs", "lr"], quote=False)
' (did you mean epochs?)'
"""
from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Generic, TypeVar

from mom_bench.core.errors import PluginError, UnknownNameError

T = TypeVar("T")


def suggest(name: str, known: Iterable[str], n: int = 1, cutoff: float = 0.6) -> list[str]:
    """The ``n`` known names closest to ``name`` (difflib's ratio of at least ``cutoff``), best first."""
    return difflib.get_close_matches(str(name), list(known), n=n, cutoff=cutoff)


def did_you_mean(name: str, known: Iterable[str], *, quote: bool = True) -> str:
    """``" (did you mean 'x'?)"`` for the closest known name, or ``""`` when none is close."""
    close = suggest(name, known)
    if not close:
        return ""
    return f" (did you mean {close[0]!r}?)" if quote else f" (did you mean {close[0]}?)"


def unknown_keys(obj: Mapping[Any, Any], allowed: Iterable[str]) -> list[str]:
    """The keys of ``obj`` outside ``allowed``, each quoted with its hint: ``["'famly' (did you mean 'family'?)"]``."""
    allowed = sorted(allowed)
    return [f"{key!r}{did_you_mean(str(key), allowed)}" for key in sorted(str(k) for k in obj if k not in allowed)]


def import_target(target: str) -> Any:
    """The object a ``"module:attr"`` string names, imported now."""
    module, _, attr = target.partition(":")
    obj: Any = importlib.import_module(module)
    for part in attr.split(".") if attr else ():
        obj = getattr(obj, part)
    return obj


class Registry(Generic[T]):
    """Names -> entries of one kind (``what``, used in messages), with aliases and optional plugins.

    ``normalise`` maps what a user typed to a key (e.g. ``str.lower``); ``error`` is the exception class an
    unknown name raises; ``group`` is an entry-point group whose entries load to rows, which ``unpack`` turns
    into ``(name, entry, aliases)`` triples (raising :class:`~mom_bench.core.errors.PluginError` for what it
    cannot use). ``message(name, close)`` words the error for an unknown name given up to ``suggestions``
    close names; by default ``unknown <what> 'name' (did you mean 'x'?); known: ...``."""

    def __init__(self, what: str, entries: Mapping[str, T] | None = None, *,
                 aliases: Mapping[str, str] | None = None, normalise: Callable[[str], str] = str,
                 error: type[Exception] = UnknownNameError, group: str | None = None,
                 unpack: Callable[[Any, str], Iterable[tuple[str, T, tuple[str, ...]]]] | None = None,
                 message: Callable[[str, list[str]], str] | None = None, suggestions: int = 1) -> None:
        self.what, self.normalise, self.error, self.group, self.unpack = what, normalise, error, group, unpack
        self.message, self.suggestions = message, suggestions
        self._entries: dict[str, T] = {}
        self._aliases: dict[str, str] = {}
        self.plugins_loaded = group is None
        for name, entry in (entries or {}).items():
            self.add(name, entry)
        for alias, name in (aliases or {}).items():
            self._claim([alias])
            self._aliases[alias] = name

    def copy(self) -> Registry[T]:
        """A registry with the same entries, to change without touching this one (tests)."""
        other: Registry[T] = Registry(self.what, normalise=self.normalise, error=self.error, group=self.group,
                                      unpack=self.unpack, message=self.message, suggestions=self.suggestions)
        other._entries, other._aliases = dict(self._entries), dict(self._aliases)
        other.plugins_loaded = self.plugins_loaded
        return other

    def _claim(self, names: Iterable[str]) -> None:
        clash = [n for n in names if n in self._entries or n in self._aliases]
        if clash:
            raise ValueError(f"{self.what} name(s) already registered: {', '.join(clash)}")

    def add(self, name: str, entry: T, aliases: Iterable[str] = ()) -> T:
        """Register ``entry`` as ``name`` (and ``aliases``); a name or alias already taken is a ValueError."""
        aliases = tuple(aliases)
        self._claim((name, *aliases))
        self._entries[name] = entry
        self._aliases.update({a: name for a in aliases})
        return entry

    def names(self, aliases: bool = False) -> list[str]:
        """Registered names in the order they were added (then the aliases, with ``aliases=True``)."""
        self.load_plugins()
        return [*self._entries, *(self._aliases if aliases else ())]

    def values(self, plugins: bool = True) -> list[T]:
        """The entries in the order they were added; ``plugins=False``: without loading any plugin first."""
        if plugins:
            self.load_plugins()
        return list(self._entries.values())

    def __getitem__(self, name: str) -> T:
        return self.get(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.canonical(name) is not None

    def canonical(self, name: str) -> str | None:
        """The registered name ``name`` (or an alias of it) stands for, or None."""
        self.load_plugins()
        key = self.normalise(name)
        return key if key in self._entries else self._aliases.get(key)

    def unknown(self, name: str) -> str:
        """The message for a name that is not registered."""
        close = suggest(self.normalise(name), self.names(aliases=True), n=self.suggestions)
        if self.message is not None:
            return self.message(name, close)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"unknown {self.what} {name!r}{hint}; known: {', '.join(self.names())}"

    def get(self, name: str) -> T:
        key = self.canonical(name)
        if key is None:
            raise self.error(self.unknown(name))
        return self._entries[key]

    def load(self, name: str) -> Any:
        """The entry of ``name``, imported when it is a lazy ``"module:attr"`` string."""
        entry = self.get(name)
        return import_target(entry) if isinstance(entry, str) else entry

    def load_plugins(self) -> None:
        """Add the rows of every installed entry point of ``group``, once. A plugin that fails raises
        :class:`~mom_bench.core.errors.PluginError` now and again at the next lookup, never skipped for good."""
        if self.plugins_loaded or self.group is None or self.unpack is None:
            return
        from importlib.metadata import entry_points

        for ep in entry_points(group=self.group):
            dist = getattr(ep, "dist", None)
            package = f" (package {dist.name} {dist.version})" if dist is not None else ""
            where = f"{self.group} plugin {ep.name} = {ep.value}{package}"
            try:
                loaded = ep.load()
            except Exception as err:  # a third party's import failure, reported with the package that caused it
                raise PluginError(f"{where} failed to load: {type(err).__name__}: {err}. Fix or uninstall that "
                                  "package.") from err
            for name, entry, aliases in self.unpack(loaded, where):
                if self._entries.get(name) == entry:  # added by an earlier attempt that a later plugin broke off
                    continue
                try:
                    self.add(name, entry, aliases)
                except ValueError as err:
                    raise PluginError(f"{where}: {err}") from None
        self.plugins_loaded = True
