"""Who is asking: the one notion of a caller that every face hands to the service.

The HTTP API builds one from a bearer token, the dashboard from its session,
an embedding application from its own users; the CLI and Python code act as
the local operator, who may do anything and owns the runs it starts by no name.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Principal:
    """The caller: whose runs these are and what they may start."""

    name: str
    is_admin: bool = False
    roles: frozenset[str] = field(default_factory=frozenset)
    #: The face the caller came through, for the audit trail: cli, api, dashboard, python.
    via: str = "python"

    @classmethod
    def operator(cls) -> Principal:
        """Whoever runs jobport on this machine (CLI, Python): every right, no owner name."""
        return cls(name="", is_admin=True)

    @property
    def owner(self) -> str | None:
        """The owner recorded on the runs this principal starts."""
        return self.name or None

    def can_see(self, owner: str | None) -> bool:
        """Admins see every run; anyone else only the runs they own."""
        return self.is_admin or (owner is not None and owner == self.name)


__all__ = ["Principal"]
