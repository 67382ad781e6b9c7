"""The installed package's version (`evlog.__version__`, `evlog --version`)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("evlog")
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0+unknown"
