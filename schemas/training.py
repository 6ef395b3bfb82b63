"""Wire shapes of training cohorts: sessions, participants with their assessment, attendance,
completion and follow-up outcome. Shapes only; capacity, completion and regions are ruled in
``service/training``."""

from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from schemas.common import Boolean, Integer, IsoDate, RecordOut


class TrainingTopic(StrEnum):
    menjahit = "menjahit"  # sewing
    tata_boga = "tata_boga"  # catering
    beternak = "beternak"  # livestock
    pertanian = "pertanian"
    kerajinan = "kerajinan"  # crafts
    digital = "digital"
    lainnya = "lainnya"


class CohortStatus(StrEnum):
    planned = "planned"
    running = "running"
    completed = "completed"
    cancelled = "cancelled"


_STRICT = ConfigDict(extra="forbid", str_strip_whitespace=True)


class SessionIn(BaseModel):
    model_config = _STRICT

    held_on: IsoDate
    title: str | None = Field(default=None, max_length=200, examples=["Pola dasar"])


class SessionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    held_on: dt.date
    title: str | None


class CohortCreate(BaseModel):
    model_config = _STRICT

    name: str = Field(min_length=2, max_length=200, examples=["Pelatihan menjahit Bumijawa"])
    program_code: str = Field(max_length=20, examples=["PK3E"])
    topic: TrainingTopic
    region_code: str = Field(
        max_length=16, description="Where it is held (any region level).", examples=["33.28.02"]
    )
    venue: str | None = Field(default=None, max_length=300, examples=["Balai Desa Guci"])
    capacity: Integer = Field(ge=1, le=500)
    facilitator_id: uuid.UUID | None = None
    trainer_name: str | None = Field(default=None, max_length=120)
    completion_threshold: Integer = Field(
        default=75, ge=1, le=100, description="Percent of sessions to attend to complete."
    )
    sessions: list[SessionIn] = Field(default_factory=list, max_length=100)


class CohortUpdate(BaseModel):
    """Only the fields sent are changed. Sessions, participants and status have their own
    endpoints."""

    model_config = _STRICT

    name: str | None = Field(default=None, min_length=2, max_length=200)
    topic: TrainingTopic | None = None
    venue: str | None = Field(default=None, max_length=300)
    capacity: Integer | None = Field(default=None, ge=1, le=500)
    facilitator_id: uuid.UUID | None = None
    trainer_name: str | None = Field(default=None, max_length=120)
    completion_threshold: Integer | None = Field(default=None, ge=1, le=100)


class CohortOut(RecordOut):
    name: str
    program_code: str
    topic: TrainingTopic
    region_code: str
    venue: str | None
    capacity: int
    participant_count: int
    facilitator_id: uuid.UUID | None
    trainer_name: str | None
    status: CohortStatus
    completion_threshold: int
    sessions: list[SessionOut]


class CohortTransitionIn(BaseModel):
    model_config = _STRICT

    to: CohortStatus
    note: str | None = Field(default=None, max_length=500)


class AssessmentIn(BaseModel):
    """The pre-training assessment: what the person needs and what business could work."""

    model_config = _STRICT

    needs: str | None = Field(default=None, max_length=2000, examples=["Mesin jahit, modal kain"])
    business_potential: str | None = Field(default=None, max_length=2000)
    notes: str | None = Field(default=None, max_length=2000)


class ParticipantCreate(BaseModel):
    model_config = _STRICT

    member_id: uuid.UUID = Field(description="The person: a member id of a family (KPM).")
    assessment: AssessmentIn | None = None


class OutcomeIn(BaseModel):
    """Follow-up after the training: did the person start a business, and which."""

    model_config = _STRICT

    started_business: Boolean
    business_kind: str | None = Field(default=None, max_length=120, examples=["Jasa jahit"])


class AttendanceIn(BaseModel):
    model_config = _STRICT

    participant_id: uuid.UUID
    present: Boolean


class AttendanceSheet(BaseModel):
    """A session's attendance; sending it again with the same values changes nothing."""

    model_config = _STRICT

    records: list[AttendanceIn] = Field(min_length=1, max_length=500)


class AttendanceOut(BaseModel):
    participant_id: uuid.UUID
    present: bool


class ParticipantOut(RecordOut):
    cohort_id: uuid.UUID
    member_id: uuid.UUID | None = Field(
        description="Null when the person was later removed from the family card."
    )
    family_id: uuid.UUID
    name: str = Field(description="The person's name when enrolled.")
    assessment: AssessmentIn | None
    attended: int = Field(description="Sessions attended.")
    total: int = Field(description="Sessions of the cohort.")
    attendance_pct: float = Field(description="attended / total in percent, one decimal.")
    completed: bool = Field(description="attended / total reached the cohort's threshold.")
    outcome: OutcomeIn | None
