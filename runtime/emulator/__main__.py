"""Deprecated: `python -m emulator serve` is `python -m embedded_functions serve`."""

import sys
import warnings

warnings.warn(
    "`python -m emulator` is deprecated: use `python -m embedded_functions` "
    "(or the `embedded-functions` command)",
    DeprecationWarning,
    stacklevel=1,
)

from embedded_functions.cli import main  # noqa: E402 - after the warning, as it says why

sys.exit(main())
