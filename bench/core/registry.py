"""A registry of lazily imported classes: built-ins, entry-point plugins and ad hoc classes.

Every entry maps a *key* (the name used in tables, folders, params and the CLI)
to a ``"package.module:Class"`` target, imported only when that key is used, so
choosing two models never imports the other five. Entries come from three places,
and :meth:`LazyRegistry.origin` says which:

- **built-in**: the table given to the constructor;
- **entry point of package X**: an installed distribution that declares
  ``[project.entry-points."<group>"] key = "module:Class"`` (e.g. the group
  ``fes_bench.models``); discovered once, on first use;
- **ad hoc**: any importable class named on the command line or in params as
  ``package.module:Class``. Its key is the same path with the colon replaced by a
  dot (``package.module.Class``): letters, digits, ``_`` and ``.`` only, so it is
  a safe table row, folder name and DVC stage name, and a later process (another
  DVC stage) resolves the key again by importing ``package.module`` and taking
  ``Class``.

A loaded class must subclass the registry's base class (``models.base:Generator``,
``metrics.base:Metric``). Its ``name`` class attribute is what checkpoints and
records carry, so a plugin class whose ``name`` differs from its key is loaded as
a subclass whose ``name`` is the key. A plugin that cannot be imported, is not a
subclass of the base, or repeats a name is a :class:`UserError` naming it, and so is a
plugin whose constructor fails (:meth:`LazyRegistry.build`): plugin code is the user's, a
built-in's failure is a bug and keeps its traceback.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.metadata
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from bench.core.errors import UserError, one_line

T = TypeVar("T")

BUILT_IN = "built-in"
AD_HOC = "ad hoc"
SAFE_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
"""Keys: dot-separated Python identifiers (safe as folder names and table rows)."""


@dataclass(frozen=True)
class Entry:
    """One registered class: its ``"module:attribute"`` target and where it came from."""

    target: str
    origin: str


def ad_hoc_key(spec: str) -> str:
    """``"pkg.module:Class"`` -> ``"pkg.module.Class"`` (a dotted key passes unchanged)."""
    return spec.replace(":", ".", 1)


class LazyRegistry:
    """Maps keys to ``"module:attribute"`` strings and imports them on first use.

    Args:
        kind: what the entries are, for messages (``model``, ``metric``).
        entries: the built-in ``{key: "module:attribute"}`` table.
        group: entry-point group of plugins (``fes_bench.models``); None: no plugins.
        base: ``"module:Class"`` every loaded class must subclass; None: no check.
    """

    def __init__(
        self,
        kind: str,
        entries: Mapping[str, str],
        group: str | None = None,
        base: str | None = None,
    ):
        self.kind = kind
        self.group = group
        self.base = base
        self._entries = {key: Entry(target, BUILT_IN) for key, target in entries.items()}
        self._discovered = group is None
        self._loaded: dict[str, type] = {}

    def _plugin_label(self, key: str, entry: Entry) -> str:
        return f"{self.kind} plugin {key!r} ({entry.origin}, {entry.target})"

    def _discover(self) -> None:
        """Add the group's entry points once; a repeated or unsafe name is a UserError."""
        if self._discovered:
            return
        self._discovered = True
        seen: set[tuple[str, str, str]] = set()
        for point in importlib.metadata.entry_points(group=self.group):
            package = point.dist.name if point.dist is not None else "unknown"
            if (point.name, point.value, package) in seen:
                continue  # the same distribution found twice on sys.path
            seen.add((point.name, point.value, package))
            entry = Entry(point.value, f"entry point of package {package}")
            if not SAFE_KEY.match(point.name):
                raise UserError(
                    f"{self._plugin_label(point.name, entry)}: the name must be dot-separated "
                    "Python identifiers (it becomes a table row and a folder name)"
                )
            if point.name in self._entries:
                other = self._entries[point.name]
                raise UserError(
                    f"{self._plugin_label(point.name, entry)} repeats the name of the "
                    f"{other.origin} {self.kind} {other.target}; rename the entry point or "
                    "uninstall one of the packages"
                )
            self._entries[point.name] = entry

    def names(self) -> list[str]:
        """Registered keys: built-ins, then entry points, then ad hoc classes used so far."""
        self._discover()
        return list(self._entries)

    def __contains__(self, name: object) -> bool:
        self._discover()
        return name in self._entries

    def origin(self, name: str) -> str:
        """``built-in``, ``entry point of package X`` or ``ad hoc``."""
        return self._entries[self.check(name)].origin

    def _ad_hoc(self, spec: str) -> str | None:
        """Register ``pkg.module:Class`` (or its dotted key) if it imports; its key, or None."""
        key = ad_hoc_key(spec)
        if ":" in key or not SAFE_KEY.match(key) or "." not in key:
            return None
        module_name, _, attribute = key.rpartition(".")
        entry = Entry(f"{module_name}:{attribute}", AD_HOC)
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if (
                ":" not in spec
                and error.name
                and (module_name == error.name or module_name.startswith(error.name + "."))
            ):
                return None  # a dotted name that is no module: just an unknown name
            raise self._import_error(key, entry, error) from None
        except Exception as error:  # the plugin's own import-time failure
            raise self._import_error(key, entry, error) from None
        if not hasattr(module, attribute):
            if ":" not in spec:
                return None
            raise UserError(f"{self._plugin_label(key, entry)}: {module_name} has no {attribute}")
        self._entries[key] = entry
        return key

    def _import_error(self, key: str, entry: Entry, error: Exception) -> UserError:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else ""
        return UserError(
            f"{self._plugin_label(key, entry)} failed to import: {type(error).__name__}: {reason}"
        )

    def check(self, name: str) -> str:
        """The key of ``name`` (registering an ad hoc ``module:Class``); else a UserError listing keys."""
        self._discover()
        if name in self._entries:
            return name
        if ad_hoc_key(name) in self._entries:
            return ad_hoc_key(name)
        key = self._ad_hoc(name)
        if key is not None:
            return key
        hint = difflib.get_close_matches(name, self._entries, n=1)
        suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
        raise UserError(
            f"unknown {self.kind} {name!r}{suggestion}; valid {self.kind}s: "
            f"{', '.join(self._entries)}, or any importable class as package.module:Class"
        )

    def parse(self, names: str | Iterable[str]) -> list[str]:
        """Parse ``"a,b"`` or a list into checked keys, order kept, duplicates dropped."""
        if isinstance(names, str):
            names = [n.strip() for n in names.split(",")]
        given = [n for n in names if n]
        if not given:
            self._discover()
            raise UserError(f"no {self.kind} given; valid {self.kind}s: {', '.join(self._entries)}")
        return list(dict.fromkeys(self.check(n) for n in given))

    def load(self, name: str) -> type:
        """Import and return the class registered under ``name`` (its ``name`` attribute = key)."""
        key = self.check(name)
        if key in self._loaded:
            return self._loaded[key]
        entry = self._entries[key]
        module_name, _, attribute = entry.target.partition(":")
        if entry.origin == BUILT_IN:
            cls = getattr(importlib.import_module(module_name), attribute)
        else:
            cls = self._load_plugin(key, entry, module_name, attribute)
        self._loaded[key] = cls
        return cls

    def build(self, name: str, make: Callable[[type], T]) -> T:
        """``make(cls)`` with the class of ``name`` (e.g. ``lambda cls: cls(**settings)``).

        A plugin's own exception there is a one-line :class:`UserError` naming the plugin
        and the exception; a :class:`UserError` passes as it is, and a built-in's exception
        (a bug of fes-bench) keeps its traceback.
        """
        cls = self.load(name)
        try:
            return make(cls)
        except UserError:
            raise
        except Exception as error:
            key = self.check(name)
            entry = self._entries[key]
            if entry.origin == BUILT_IN:
                raise
            raise UserError(
                f"{self._plugin_label(key, entry)} failed to build: "
                f"{type(error).__name__}: {one_line(error)}"
            ) from error

    def _load_plugin(self, key: str, entry: Entry, module_name: str, attribute: str) -> type:
        """Import a plugin class, check it against the base, give it ``name = key``."""
        try:
            cls = getattr(importlib.import_module(module_name), attribute)
        except Exception as error:
            raise self._import_error(key, entry, error) from None
        if self.base is not None:
            base_module, _, base_name = self.base.partition(":")
            base = getattr(importlib.import_module(base_module), base_name)
            if not (isinstance(cls, type) and issubclass(cls, base)):
                raise UserError(
                    f"{self._plugin_label(key, entry)} is not a subclass of "
                    f"{base_module}.{base_name}"
                )
        if getattr(cls, "name", None) != key:
            cls = type(
                cls.__name__,
                (cls,),
                {"name": key, "__module__": cls.__module__, "__doc__": cls.__doc__},
            )
        return cls
