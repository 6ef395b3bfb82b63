"""How groups and grants leave the service: one presenter for REST and GraphQL."""

from __future__ import annotations

from dataclasses import dataclass

from schemas.kube import GrantOut, KubeGroupOut, KubeMemberOut
from service.kube.tables import KubeGrant, KubeGroup, KubeMember


@dataclass
class GroupRecord:
    group: KubeGroup
    members: list[KubeMember]


def present_member(member: KubeMember) -> KubeMemberOut:
    return KubeMemberOut(family_id=member.family_id, role=member.role, joined_at=member.joined_at)


def present_group(record: GroupRecord) -> KubeGroupOut:
    group = record.group
    return KubeGroupOut(
        id=group.id,
        created_at=group.created_at,
        updated_at=group.updated_at,
        version=group.version,
        name=group.name,
        village_code=group.village_code,
        program_code=group.program_code,
        business_category=group.business_category,
        facilitator_id=group.facilitator_id,
        status=group.status,
        members=[present_member(member) for member in record.members],
    )


def present_grant(grant: KubeGrant) -> GrantOut:
    return GrantOut.model_validate(grant, from_attributes=True)
