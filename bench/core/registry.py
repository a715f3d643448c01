"""A small registry of lazily imported classes: ``name -> "package.module:Class"``.

Looking up one name imports only that entry's module, so choosing two models
never imports the other five. Unknown names get an error listing the valid
names with a "did you mean" suggestion.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Iterable, Mapping

from bench.core.errors import UserError


class LazyRegistry:
    """Maps names to ``"module:attribute"`` strings and imports them on first use."""

    def __init__(self, kind: str, entries: Mapping[str, str]):
        self.kind = kind
        self._entries = dict(entries)

    def names(self) -> list[str]:
        """Registered names, in registration order."""
        return list(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def check(self, name: str) -> str:
        """Return ``name`` if registered; otherwise raise a :class:`UserError` that lists the names."""
        if name in self._entries:
            return name
        hint = difflib.get_close_matches(name, self._entries, n=1)
        suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
        raise UserError(
            f"unknown {self.kind} {name!r}{suggestion}; valid {self.kind}s: {', '.join(self._entries)}"
        )

    def parse(self, names: str | Iterable[str]) -> list[str]:
        """Parse ``"a,b"`` or a list into checked names, order kept, duplicates dropped."""
        if isinstance(names, str):
            names = [n.strip() for n in names.split(",")]
        parsed = [n for n in dict.fromkeys(n for n in names if n)]
        if not parsed:
            raise UserError(f"no {self.kind} given; valid {self.kind}s: {', '.join(self._entries)}")
        return [self.check(n) for n in parsed]

    def load(self, name: str) -> type:
        """Import and return the class registered under ``name``."""
        module_name, _, attribute = self._entries[self.check(name)].partition(":")
        return getattr(importlib.import_module(module_name), attribute)
