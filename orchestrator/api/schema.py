"""OpenAPI generation tweaks (drf-spectacular)."""
from __future__ import annotations

from drf_spectacular.openapi import AutoSchema as _SpectacularAutoSchema


class AutoSchema(_SpectacularAutoSchema):
    """Component names from the nesting: ``RunDetailApi.OutputSerializer`` → ``RunDetailOutput``."""

    def get_serializer_name(self, serializer, direction):
        qualname = type(serializer).__qualname__
        if "." in qualname:
            return qualname.replace("Serializer.", "").replace("Api.", "").replace(".", "")
        return super().get_serializer_name(serializer, direction)
