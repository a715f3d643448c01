"""Sub-commands of the `bench` command line, one Typer app per module."""
