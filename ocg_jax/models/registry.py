"""Model families by name: ``get_model(config.model)``."""

import dataclasses
from collections.abc import Callable

import flax.linen as nn
import ml_collections

from ocg_jax.models.air import AIR, AIRNet
from ocg_jax.models.base import Family
from ocg_jax.models.dd_vae import DDVAE, DDNet
from ocg_jax.models.gan import GAN, GANNet
from ocg_jax.models.genesis import Genesis, GenesisNet
from ocg_jax.models.monet import Monet, MonetNet
from ocg_jax.models.redo import ReDO, ReDONet
from ocg_jax.models.vae import VAE, VAENet
from ocg_jax.objectives.priors import PriorSpec

#: name -> (family class, network class, options the name fixes)
_FAMILIES: dict[str, tuple[type, type[nn.Module], dict]] = {
    "genesis": (Genesis, GenesisNet, {"variant": "genesis"}),
    "genesis_s": (Genesis, GenesisNet, {"variant": "genesis_s"}),
    "monet": (Monet, MonetNet, {}),
    "dc_vae": (VAE, VAENet, {"decoder": "deconv"}),
    "bd_vae": (VAE, VAENet, {"decoder": "broadcast"}),
    "air": (AIR, AIRNet, {"difference": False}),
    "dair": (AIR, AIRNet, {"difference": True}),
    "dd_vae": (DDVAE, DDNet, {}),
    "redo": (ReDO, ReDONet, {}),
    "gan": (GAN, GANNet, {}),
}


#: families registered from outside the library: name -> factory(options) -> family
_REGISTERED: dict[str, Callable[[dict], Family]] = {}


def register(name: str, factory: Callable[[dict], Family]) -> None:
    """Make ``get_model({"name": name, **options})`` return ``factory(options)``: a family of
    your own then trains through the launchers and the loop like the built-in ones."""
    if name in _FAMILIES:
        raise ValueError(f"{name!r} is a built-in family")
    _REGISTERED[name] = factory


def get_model(config: ml_collections.ConfigDict | dict) -> Family:
    """The family ``config['name']`` built with the remaining entries as options."""
    options = dict(config.to_dict() if hasattr(config, "to_dict") else config)
    name = options.pop("name", None)
    if name in _REGISTERED:
        return _REGISTERED[name](options)
    if name not in _FAMILIES:
        known = sorted(_FAMILIES) + sorted(_REGISTERED)
        raise ValueError(f"unknown model {name!r}; known: {known}")
    family, net, fixed = _FAMILIES[name]
    fields = {f.name for f in dataclasses.fields(net) if f.init} - {"parent", "name", *fixed}
    unknown = sorted(set(options) - fields)
    if unknown:
        raise ValueError(
            f"unknown option(s) {unknown} for model {name!r}; it takes {sorted(fields)}"
        )
    for key, value in options.items():
        if isinstance(value, list):
            options[key] = tuple(value)
    if "prior" in options:  # a nested config: hashable settings (a model is a cache key)
        options["prior"] = PriorSpec.parse(options["prior"])
    return family(net(**fixed, **options), name=name)
