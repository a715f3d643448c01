"""An example fes-bench plugin package (see README.md beside pyproject.toml)."""
