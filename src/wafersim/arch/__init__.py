"""Machine description: `WaferSpec` and its presets."""
from .spec import PRESET_SIZES, WaferSpec, resolve_spec

__all__ = ["PRESET_SIZES", "WaferSpec", "resolve_spec"]
