"""The client registry shared by the builder and the proxy."""

from registry.clients import FONTS, POSITIONS, THEMES, Client, Registry, RegistryError, load
from registry.origin import Origin, OriginPattern, parse_origin

__all__ = ["FONTS", "POSITIONS", "THEMES", "Client", "Origin", "OriginPattern", "Registry", "RegistryError", "load", "parse_origin"]
