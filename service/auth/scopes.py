"""The OAuth2 scopes: one per resource family and action. Shown in the OpenAPI security scheme."""

from __future__ import annotations

SCOPES: dict[str, str] = {
    "programs:write": "Create and change programs",
    "kpm:read": "Read beneficiary families (KPM), their members and verifications",
    "kpm:write": "Register, change, verify, enrol and archive families",
    "pii:read": "See NIK and No KK unmasked (every such read is audited)",
    "facilitators:read": "Read facilitators (pendamping)",
    "facilitators:write": "Create and change facilitators",
    "kube:read": "Read KUBE groups and grants",
    "kube:write": "Create and change KUBE groups and grants",
    "training:read": "Read training cohorts, participants and attendance",
    "training:write": "Run training cohorts",
    "allocations:read": "Read budget allocations",
    "allocations:write": "Create and change budget allocations",
    "disbursements:read": "Read disbursements",
    "disbursements:write": "Create, send and settle disbursements",
    "reports:read": "Read reports",
    "changes:read": "Read the change feed",
    "webhooks:manage": "Manage webhook subscriptions",
    "audit:read": "Read the audit trail",
}

ALL_SCOPES = frozenset(SCOPES)


def parse_scopes(raw: str | None) -> list[str]:
    return sorted({part for part in (raw or "").split() if part})
