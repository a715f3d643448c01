"""Building a model from the configuration: the one place that turns a name into a model.

Train, adapt, perf, sources and run all come here, so what a model is made from (its
class, its settings, the image size, the trained models it depends on) is decided once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from models.registry import MODELS

if TYPE_CHECKING:
    from bench.config import Config
    from models.base import Generator


def model_class(name: str) -> type[Generator]:
    """The registered class of ``name`` (a UserError naming the valid models otherwise)."""
    return MODELS.load(name)


def kind_of(name: str) -> str:
    """``reference`` | ``fitted`` | ``trained`` | ``adapted`` (:attr:`models.base.Generator.kind`)."""
    return model_class(name).kind


def dependencies(config: Config, name: str) -> list[str]:
    """The models whose trained checkpoints ``name`` needs, from its own settings (checked keys)."""
    return [MODELS.check(d) for d in model_class(name).dependencies(**config.settings_of(name))]


def build_model(config: Config, name: str) -> Generator:
    """A fresh ``name`` with its settings and the configuration's image size (a plugin whose
    constructor fails is a UserError naming it)."""
    settings = config.settings_of(name)
    return MODELS.build(name, lambda cls: cls(image_size=config.image_size, **settings))


def build_adapted(
    config: Config, name: str, bases: list[Generator], dataset: str | None
) -> Generator:
    """An adapted model around its trained ``bases`` (in :func:`dependencies` order), for
    ``dataset`` (None: the in-distribution fallback that is its base)."""
    settings = config.settings_of(name)
    return MODELS.build(name, lambda cls: cls.from_base(*bases, dataset, **settings))


def ordered(config: Config, names: list[str]) -> list[str]:
    """``names`` with every dependency first (each once), the given order kept otherwise."""
    result: list[str] = []

    def visit(name: str, seen: tuple[str, ...]) -> None:
        if name in result:
            return
        for dependency in dependencies(config, name):
            if dependency not in seen:
                visit(dependency, (*seen, name))
        result.append(name)

    for name in names:
        visit(MODELS.check(name), ())
    return result
