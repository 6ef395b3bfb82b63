"""The feed's `types` filter knows every record type the writers publish."""

from __future__ import annotations

from service.allocations.sums import ENTITY as ALLOCATION
from service.changes.feed import ENTITY_TYPES
from service.disbursements.rules import ENTITY as DISBURSEMENT
from service.kpm.facilitators import ENTITY as FACILITATOR
from service.kpm.families import ENTITY as FAMILY
from service.kube.grants import ENTITY as KUBE_GRANT
from service.kube.groups import ENTITY as KUBE_GROUP
from service.programs.service import ENTITY as PROGRAM
from service.training.cohorts import ENTITY as COHORT
from service.training.participants import ENTITY as PARTICIPANT


def test_every_published_record_type_can_be_asked_for() -> None:
    published = {
        ALLOCATION,
        DISBURSEMENT,
        FACILITATOR,
        FAMILY,
        KUBE_GRANT,
        KUBE_GROUP,
        PROGRAM,
        COHORT,
        PARTICIPANT,
    }
    assert published == ENTITY_TYPES
