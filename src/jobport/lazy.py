"""A package's public names imported on first use (PEP 562), kept once imported.

:mod:`jobport`, :mod:`jobport.store` and :mod:`jobport.kinds` re-export
names from heavier modules (SQLAlchemy, pydantic, the kinds' machinery).
Importing the package, or a light module inside it, must not pay for those:
``jobport status`` reads a run without SQLAlchemy, ``jobport types`` lists
types without the kinds. Each package declares where its names live and
takes its module ``__getattr__`` and ``__dir__`` from :func:`lazy_names`;
type checkers read the real imports under ``TYPE_CHECKING``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, MutableMapping, Sequence
from importlib import import_module
from typing import Any


def lazy_names(
    package: str,
    homes: Mapping[str, str],
    namespace: MutableMapping[str, Any],
    public: Sequence[str],
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of ``package``, whose names live in ``homes``.

    A name is imported from its home module when it is first asked for, then
    stored in the package's ``namespace`` (its ``globals()``), so the next use
    is a plain attribute read.
    """

    def __getattr__(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(import_module(home), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *public})

    return __getattr__, __dir__
