"""The column mapping an import type proposes for a file's header (what a mapping step shows).

A client sends the header it read from a file; the answer says, per column,
which field it would feed, how sure, and by which rule, the required fields
no column feeds yet, and the fields to choose from. Nothing is stored: the
run takes the mapping the user settles on as its ``mapping`` form field.
"""

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from jobport.api.context import Caller, Service
from jobport.api.routers.refusals import names, refused_kind
from jobport.http.problems import responses
from jobport.kinds.columns import ColumnMapping
from jobport.kinds.mapping import MAX_HEADER_NAME
from jobport.service import WrongKind

router = APIRouter()

SourceName = Literal["user", "saved", "exact", "alias", "title", "synonym", "fuzzy"]


class ColumnProposal(BaseModel):
    header: str = Field(description="The column's name, as sent.")
    field: str | None = Field(description="The field it would feed; null: none (ignored).")
    score: int = Field(ge=0, le=100, description="How sure (100: a name the type knows).")
    source: SourceName | None = Field(
        description="The rule that placed it (saved: the mapping saved for this header); "
        "null: no rule did."
    )


class FieldChoice(BaseModel):
    name: str
    title: str | None
    required: bool
    description: str = ""


class MappingProposal(BaseModel):
    """Which column of a file with this header would feed which field, and how sure."""

    columns: list[ColumnProposal] = Field(description="One per header column, in order.")
    missing_required: list[str] = Field(description="Required fields no column feeds yet.")
    fields: list[FieldChoice] = Field(description="The type's fields, in declaration order.")
    saved_at: datetime | None = Field(
        default=None, description="When the mapping saved for this header was saved, if used."
    )
    notes: list[str] = Field(
        default_factory=list, description="What else to know (a saved mapping not used)."
    )

    @classmethod
    def of(cls, placed: ColumnMapping) -> "MappingProposal":
        return cls(
            columns=[ColumnProposal(**p.to_json()) for p in placed.placements],
            missing_required=placed.missing_required,
            fields=[
                FieldChoice(
                    name=t.name, title=t.title, required=t.required, description=t.description
                )
                for t in placed.fields
            ],
            saved_at=placed.saved_at,
            notes=placed.notes,
        )


@router.get(
    "/job-types/{type}/mapping",
    summary="The column mapping proposed for a file's header",
    description=(
        "Give the file's header as repeated `headers` parameters, in order. Each column "
        "is placed by the mapping saved for this header, else by the field's name "
        "(case, spaces and punctuation aside), alias, title, the type's synonyms or a "
        "fuzzy likeness (score 85 and up); a field takes one column at most. An unknown "
        "type, or one the caller may not start, is 404; a type that is not an import, a "
        "header longer than the type's column limit, a name over 1,000 characters, a "
        "blank name or a name twice is 422."
    ),
    responses=responses(401, 404, 422),
)
async def mapping_proposal(
    type: str,
    headers: Annotated[
        list[Annotated[str, Field(max_length=MAX_HEADER_NAME)]],
        Query(min_length=1, description="The header's column names, in order (repeated)."),
    ],
    request: Request,
    caller: Caller,
    service: Service,
) -> MappingProposal:
    try:
        placed = await run_in_threadpool(service.mapping_proposal, caller, type, headers)
    except WrongKind as refused:
        takes = f"import types: {names(service.startable_types(caller, 'import'))}"
        raise refused_kind(request, refused, type, "an import", takes) from None
    return MappingProposal.of(placed)
