"""The client registry, and the product's nouns every part shares: origins, versions, releases,
the CDN's manifest, looks."""

from registry.callconfig import Consent, FrozenMap
from registry.clients import AGENT_ID, Client, Registry, RegistryError, dump, load
from registry.errors import ErrorList
from registry.looks import FONTS, POSITIONS, THEMES, themes_of_line
from registry.manifest import Manifest, ManifestError
from registry.origin import Origin, OriginPattern, parse_origin
from registry.releases import FEATURES, Release
from registry.tables import TableCache
from registry.versions import Version, VersionError

__all__ = ["AGENT_ID", "FEATURES", "FONTS", "POSITIONS", "THEMES", "Client", "Consent", "ErrorList", "FrozenMap", "Manifest", "ManifestError",
           "Origin", "OriginPattern", "Registry", "RegistryError", "Release", "TableCache", "Version", "VersionError", "dump",
           "load", "parse_origin", "themes_of_line"]
