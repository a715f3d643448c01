"""Dataset ingest: the embedded synthetic default, CFEE, and folders of OOD face photos.

Every dataset is prepared into ``data/<name>/``: aligned RGB PNGs plus a
``manifest.csv`` (see :mod:`datasets.manifest`).
"""
