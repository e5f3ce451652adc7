"""The WAFERSIM_* environment variables that switch something on or off, read by one parser.

Every on/off variable takes the same words, in any case and with spaces around them ignored: `1`, `true`,
`yes`, `on` for on and `0`, `false`, `no`, `off` for off; unset or empty is the variable's default.
Another value is a mistake that must not pass unseen (`WAFERSIM_TRACE=yes` once turned nothing on):
variables read by a launch raise an `ArgumentError` naming the variable there, as `WAFERSIM_THREADS` and
`WAFERSIM_HOST_MEMORY` do; those read at import (`WAFERSIM_KERNEL_CACHE`, `WAFERSIM_VERIFY_PASSES`) warn
and keep their default instead, since an error there would make `import wafersim` itself fail. The table
of every variable is in docs/api.md ("Environment variables").
"""
from __future__ import annotations

import os
import warnings

from .errors import ArgumentError

ON_WORDS = ("1", "true", "yes", "on")
OFF_WORDS = ("0", "false", "no", "off")


def env_flag(name: str, default: bool, at_import: bool = False) -> bool:
    """The on/off environment variable `name` (see the module's docstring): `default` when unset or empty.
    An unrecognised value is an `ArgumentError` naming the variable (fields `variable`, `value`), or with
    `at_import` a `RuntimeWarning` and the default."""
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    word = raw.strip().lower()
    if word in ON_WORDS:
        return True
    if word in OFF_WORDS:
        return False
    message = (f"{name}={raw!r} is not an on/off value: set it to one of {', '.join(ON_WORDS)} (on) or "
               f"{', '.join(OFF_WORDS)} (off), or unset it (default: {'on' if default else 'off'})")
    if at_import:
        warnings.warn(message + "; using the default", RuntimeWarning, stacklevel=2)
        return default
    raise ArgumentError(message, variable=name, value=raw)
