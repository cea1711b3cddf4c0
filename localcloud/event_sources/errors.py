"""The one error every event source module raises for a mapping Lambda (or the local cloud) refuses."""

from __future__ import annotations


class MappingConfigurationError(ValueError):
    """A mapping that Lambda itself would refuse (or that the local cloud cannot honour)."""
