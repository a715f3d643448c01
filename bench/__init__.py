"""fes-bench: the `bench` command line, the orchestration behind it, and the foundation.

``bench/core/`` is the foundation that ``datasets``, ``models`` and ``metrics``
import (errors, atomic writes, registry, device, progress, provenance, vocabulary,
image tensors, weights); the rest of ``bench/`` is the orchestration (train,
adapt, synthesize, evaluate, run, data, report, trainer) and ``bench/cli.py`` with
``bench/commands/`` the command line. Imports only point down.
"""

__version__ = "0.1.0"
