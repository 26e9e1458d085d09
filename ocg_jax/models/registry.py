"""Model families by name: ``get_model(config.model)``."""

import dataclasses

import ml_collections

from ocg_jax.models.base import ModelFamily
from ocg_jax.models.genesis import Genesis, GenesisNet


def _build_genesis(name: str, options: dict) -> ModelFamily:
    fields = {f.name for f in dataclasses.fields(GenesisNet) if f.init} - {
        "variant",
        "parent",
        "name",
    }
    unknown = sorted(set(options) - fields)
    if unknown:
        raise ValueError(
            f"unknown option(s) {unknown} for model {name!r}; it takes {sorted(fields)}"
        )
    return Genesis(GenesisNet(variant=name, **options), name=name)


_FAMILIES = {"genesis": _build_genesis, "genesis_s": _build_genesis}


def get_model(config: ml_collections.ConfigDict | dict) -> ModelFamily:
    """The family ``config['name']`` built with the remaining entries as options."""
    options = dict(config.to_dict() if hasattr(config, "to_dict") else config)
    name = options.pop("name", None)
    if name not in _FAMILIES:
        raise ValueError(f"unknown model {name!r}; known: {sorted(_FAMILIES)}")
    for key, value in options.items():
        if isinstance(value, list):
            options[key] = tuple(value)
    return _FAMILIES[name](name, options)
