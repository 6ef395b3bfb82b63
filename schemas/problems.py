"""RFC 9457 problem details, as every error of the API is returned."""

from __future__ import annotations

from pydantic import BaseModel, Field


class FieldProblem(BaseModel):
    field: str = Field(description="Dotted path of the offending field, e.g. `members.2.nik`.")
    code: str = Field(description="Stable machine code, e.g. `invalid_region_code`.")
    message: str


class Problem(BaseModel):
    type: str = Field(description="A URI naming the kind of problem.")
    title: str
    status: int
    detail: str
    code: str = Field(description="Stable machine code for the problem, e.g. `not_found`.")
    request_id: str | None = Field(
        default=None, description="Quote it when asking the operators about this request."
    )
    errors: list[FieldProblem] = Field(default_factory=list)
