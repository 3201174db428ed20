"""Packages the HTTP stack looks up on every call are installed.

httpcore imports `sniffio` inside each pool operation to tell asyncio from trio; when it is
missing, every one of those imports fails after a search of sys.path, which cost sign-in
about a tenth of its CPU. The import is cheap only if the package is there.
"""

from __future__ import annotations

import importlib.util

from httpcore._synchronization import current_async_library


def test_sniffio_is_installed() -> None:
    """`sniffio` resolves, so httpcore's per-call import is a dictionary lookup."""
    assert importlib.util.find_spec("sniffio") is not None


async def test_httpcore_detects_asyncio() -> None:
    """httpcore names the running library through sniffio, not through its fallback."""
    assert current_async_library() == "asyncio"
