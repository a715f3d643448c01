"""The foundation every part of fes-bench builds on; it imports nothing else of the project.

- :mod:`~bench.core.errors`: ``UserError`` (one-line message, exit code 2) and ``MissingWeightsError``
- :mod:`~bench.core.atomic`: write to a temporary name, then rename (never half a file)
- :mod:`~bench.core.registry`: the lazy ``name -> "module:Class"`` registry
- :mod:`~bench.core.device`: device choice and bf16 autocast
- :mod:`~bench.core.progress`: the console and progress bars
- :mod:`~bench.core.hashing` and :mod:`~bench.core.provenance`: sha256 of files, provenance records
- :mod:`~bench.core.vocabulary`: the canonical expression vocabulary
- :mod:`~bench.core.tensors`: the image-tensor contract (uint8 <-> [-1, 1], ``ImageSet``)
- :mod:`~bench.core.weights`: the weights manager (sha256-checked cache of pretrained files)

Layers above it, from the bottom: ``datasets/``, ``models/``, ``metrics/`` (the parts),
the orchestration (the rest of ``bench/``), the command line (``bench/cli.py``,
``bench/commands/``). ``tests/test_architecture.py`` keeps the arrows pointing down.
"""
