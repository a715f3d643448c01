"""fes-bench: the `bench` command line and the orchestration behind it.

Submodules stay import-light: ``bench.errors`` and ``bench.atomic`` are used by
``datasets``, ``models`` and ``metrics`` too.
"""

__version__ = "0.1.0"
