from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class RegionRef(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    code: str = Field(description="Dotted Kemendagri code", examples=["33.28.02"])
    name: str
    level: str = Field(description="`province`, `regency`, `district` or `village`")


class RegionOut(RegionRef):
    parent_code: str | None
    parents: list[RegionRef] = Field(
        default_factory=list, description="The regions above this one, province first."
    )


class RegionListItem(RegionRef):
    parent_code: str | None
