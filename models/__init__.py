"""Generators behind one interface (:class:`models.base.Generator`) and their registry."""
