"""Which GraphQL field does what each REST operation does: the one list the parity table
(``openapi/parity.md``) and its test are generated from.

Every REST operation (by its OpenAPI ``operationId``) names its GraphQL counterpart as
``"Query.field"`` or ``"Mutation.field"`` (the schema's own, camelCase, names), or the reason
it has none in ``WITHOUT_GRAPHQL``. A REST operation in neither is a gap the parity test names.
"""

from __future__ import annotations

GRAPHQL_FIELDS: dict[str, str] = {
    # Regions and programs
    "listRegions": "Query.regions",
    "listRegionChildren": "Query.regions",
    "getRegion": "Query.region",
    "listPrograms": "Query.programs",
    "getProgram": "Query.program",
    "createProgram": "Mutation.createProgram",
    "updateProgram": "Mutation.updateProgram",
    # KPM
    "listFamilies": "Query.families",
    "getFamily": "Query.family",
    "createFamily": "Mutation.createFamily",
    # KUBE
    "listKubeGroups": "Query.kubeGroups",
    "getKubeGroup": "Query.kubeGroup",
    "createKubeGroup": "Mutation.createKubeGroup",
    "addKubeMember": "Mutation.addKubeMember",
    "changeKubeGroupStatus": "Mutation.changeKubeGroupStatus",
    "listKubeGrants": "Query.kubeGrants",
    "getKubeGrant": "Query.kubeGrant",
    "createKubeGrant": "Mutation.createKubeGrant",
    "transitionKubeGrant": "Mutation.transitionKubeGrant",
    # Training
    "listTrainingCohorts": "Query.trainingCohorts",
    "getTrainingCohort": "Query.trainingCohort",
    "createTrainingCohort": "Mutation.createTrainingCohort",
    "enrolParticipant": "Mutation.enrolParticipant",
    "recordAttendance": "Mutation.recordAttendance",
    # Money
    "listAllocations": "Query.allocations",
    "getAllocation": "Query.allocation",
    "createAllocation": "Mutation.createAllocation",
    "updateAllocation": "Mutation.updateAllocation",
    "listDisbursements": "Query.disbursements",
    "getDisbursement": "Query.disbursement",
    "createDisbursement": "Mutation.createDisbursement",
    "transitionDisbursement": "Mutation.transitionDisbursement",
    # Changes
    "listChanges": "Query.changes",
}

# REST operations GraphQL leaves out on purpose, and why.
WITHOUT_GRAPHQL: dict[str, str] = {
    "issueToken": "The OAuth2 token endpoint: GraphQL callers use the token it issues.",
    "health": "A probe for load balancers, not data.",
    "readiness": "A probe for load balancers, not data.",
    "exportFamilies": "A raw file download.",
    "exportKubeGroups": "A raw file download.",
    "exportKubeGrants": "A raw file download.",
    "exportTrainingCohorts": "A raw file download.",
    "exportParticipants": "A raw file download.",
    "exportAllocations": "A raw file download.",
    "exportDisbursements": "A raw file download.",
    "exportFacilitators": "A raw file download.",
    "streamChanges": "A raw NDJSON stream; GraphQL callers page `changes` or subscribe.",
}
