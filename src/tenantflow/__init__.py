"""tenantflow: multi-tenant workflow automation."""

from typing import Any


def __getattr__(name: str) -> Any:
    """``__version__``, read from the installed package's metadata when first asked for: looking it up scans
    every installed distribution, which cost each command 80 ms of start-up when done at import."""
    if name != "__version__":
        raise AttributeError(f"module 'tenantflow' has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        found = version("tenantflow")
    except PackageNotFoundError:  # running from a source tree that was never installed
        found = "0.0.0"
    globals()["__version__"] = found
    return found
