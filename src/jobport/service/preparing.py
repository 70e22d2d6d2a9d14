"""Before an import starts: the template to fill in, the columns of a file placed, a preview.

Nothing here stores a run: each use case reads a stored upload as planning
would, and refuses what planning would refuse, with the same errors.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from jobport.dispatch import format_from_name, validate_options
from jobport.errors import ConfigurationError, InputError, UnknownJobType, listed, shown
from jobport.kinds import PlanRequest
from jobport.principal import Principal
from jobport.service.base import ServiceCore, WrongKind

if TYPE_CHECKING:  # the import kind's machinery loads in the use cases that use it:
    # a command over runs (status, history) would pay ~20 ms for it at start
    from jobport.files import FileStore
    from jobport.formats.base import Prepared, TabularFormat
    from jobport.kinds.columns import ColumnMapping
    from jobport.kinds.preview import Preview
    from jobport.kinds.template import Template

#: How many rows of an upload the mapping step shows as examples of each column.
EXAMPLE_ROWS = 3
#: How much of one example value the mapping step shows.
EXAMPLE_CHARS = 40


@dataclass(frozen=True)
class UploadColumns:
    """The mapping step's view of a stored upload: its columns placed, and examples."""

    placed: ColumnMapping
    #: Per column, in file order, the values of its first rows (cut short, blanks left out),
    #: so a person can tell what a column holds whatever its name.
    examples: list[list[str]]


class PrepareUses(ServiceCore):
    """The template, the mapping step and the preview of an import."""

    def template(self, who: Principal, type: str, format: str = "csv") -> Template:
        """A file to fill in for an import type: its columns, required ones marked, and an
        example row. Like a run another user owns, the template of a type ``who`` may not
        start, or of a type that is not an import, does not exist for them."""
        from jobport.kinds.template import TemplateNotFound, build_template

        job_type = self.registry.get(type)
        if job_type.kind != "import" or not job_type.may_start(who):
            startable = self.startable_types(who, "import")
            raise TemplateNotFound(
                f"no import type '{shown(type)}' you may start; templates: "
                f"{listed(t.type for t in startable) or 'none'}"
            )
        return build_template(job_type, format)

    def mapping_proposal(self, who: Principal, type: str, header: list[str]) -> ColumnMapping:
        """Each column of a file with this header placed for import type ``type``: by the
        mapping saved for this header, then the proposal (:mod:`jobport.kinds.columns`).
        A type of another kind is :class:`WrongKind`; an import type ``who`` may not start
        is unknown to them."""
        from jobport.kinds.columns import proposed
        from jobport.kinds.importer import Importer

        job_type = self.registry.get(type) if type in self.registry else None
        if job_type is not None and job_type.kind != "import":
            raise WrongKind(job_type, ("import",), self.startable_types(who, "import"))
        if job_type is None or not job_type.may_start(who):
            raise UnknownJobType(type, [t.type for t in self.startable_types(who, "import")])
        limit = self.engine.dispatcher.limits_for(job_type).max_columns
        if limit and len(header) > limit:
            raise InputError(
                f"the header has {len(header):,} columns, over the limit of {limit:,} "
                "(raise it with the type's limits or JOBPORT_MAX_COLUMNS)"
            )
        importer = job_type.handler
        if not isinstance(importer, Importer):
            raise ConfigurationError(f"import type '{type}' needs an Importer as its handler")
        return proposed(
            header,
            importer.row,
            synonyms=importer.synonyms,
            type_key=job_type.type,
            saved_mappings=self.store.saved_mapping,
        )

    def preview(
        self,
        who: Principal,
        type: str,
        source_key: str,
        *,
        source_name: str | None = None,
        options: dict[str, Any] | None = None,
        format: str | None = None,
        read: dict[str, Any] | None = None,
        rows: int = 20,
    ) -> Preview:
        """The first ``rows`` rows of a stored upload validated, nothing written.

        Refuses what planning the real import would refuse, with the same errors.
        """
        from jobport.kinds.preview import preview_import

        request = self._import_request(who, type, source_key, source_name, options, format, read)
        return preview_import(request, limit=rows)

    def upload_mapping(
        self,
        who: Principal,
        type: str,
        source_key: str,
        *,
        source_name: str | None = None,
        options: dict[str, Any] | None = None,
        format: str | None = None,
        read: dict[str, Any] | None = None,
    ) -> UploadColumns:
        """The dashboard's mapping step: each column of a stored upload's header placed
        as :meth:`mapping_proposal` places a header, with the values of its first rows.

        The file is read as planning reads it (``read``: encoding, delimiter, sheet,
        header row), and refused for what planning refuses of the file and its header,
        but not for a required field no column feeds: the step is where one is chosen.
        """
        from jobport.formats import ReadOptions
        from jobport.formats.base import discard
        from jobport.kinds.imports import checked_reader

        request = self._import_request(who, type, source_key, source_name, options, format, read)
        parsed = ReadOptions.checked(request.read)
        scratch: list[str] = []
        try:
            reader = checked_reader(self.files, source_key, request.format or "", parsed)
            prepared = reader.prepare(self.files, source_key, parsed)
            scratch += prepared.scratch
            placed = self.mapping_proposal(who, type, prepared.header)  # column limit too
            return UploadColumns(placed, _examples(self.files, reader, prepared))
        finally:
            discard(self.files, scratch)

    def _import_request(
        self,
        who: Principal,
        type: str,
        source_key: str,
        source_name: str | None,
        options: dict[str, Any] | None,
        format: str | None,
        read: dict[str, Any] | None,
    ) -> PlanRequest:
        """What planning an import of a stored upload would be given (nothing is stored),
        refused as a start would be: type, role, format, options, read options."""
        job_type = self.startable(who, type, "import")
        self.engine.dispatcher.check(
            self._request(who, type=type, options=options, format=format, read=read)
        )
        return PlanRequest(
            job_type=job_type,
            options=validate_options(job_type, options or {}),
            files=self.files,
            database=self.engine.database,
            source_key=source_key,
            format=format or format_from_name(source_name, job_type),
            read=read or {},
            limits=self.engine.dispatcher.limits_for(job_type),
            saved_mappings=self.store.saved_mapping,
        )


def _examples(files: FileStore, reader: TabularFormat, prepared: Prepared) -> list[list[str]]:
    """Per column of a prepared file, the values of its first :data:`EXAMPLE_ROWS` rows
    (cut short, blanks left out), read as a chunk reads them."""
    from jobport.kinds.imports import layout_of

    header = prepared.header
    examples: list[list[str]] = [[] for _ in header]
    first = next(iter(reader.plan(files, prepared, EXAMPLE_ROWS)), None)
    if first is None:
        return examples
    records = reader.read(files, prepared.source_key, layout_of(prepared), first)
    for _, values in itertools.islice(records, EXAMPLE_ROWS):
        for index, value in enumerate(values if isinstance(values, list) else []):
            if index < len(header) and value not in (None, ""):
                examples[index].append(shown(value, EXAMPLE_CHARS))
    return examples
