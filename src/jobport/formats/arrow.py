"""pyarrow, loaded on demand: the optional ``parquet`` extra, shared by the Parquet
reader and writer without either importing the other."""

from __future__ import annotations

from typing import Any

from jobport.errors import MissingExtraError


def pyarrow_modules() -> tuple[Any, Any, Any]:
    """(pyarrow, pyarrow.parquet, pyarrow.compute), or a clear error when the extra is missing."""
    try:
        import pyarrow  # type: ignore[import-untyped]
        import pyarrow.compute  # type: ignore[import-untyped]
        import pyarrow.parquet  # type: ignore[import-untyped]
    except ImportError:
        raise MissingExtraError("Parquet", "parquet") from None
    return pyarrow, pyarrow.parquet, pyarrow.compute
