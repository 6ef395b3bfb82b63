"""Which GraphQL field does what each REST operation does: the one list the parity table
(``openapi/parity.md``) and its test are generated from.

Every REST operation (by its OpenAPI ``operationId``) names its GraphQL counterpart as
``"Query.field"`` or ``"Mutation.field"`` (the schema's own, camelCase, names), or
``"Type.field"`` where REST reads a sub-resource of one record (``"Family.verifications"``), or
the reason it has none in ``WITHOUT_GRAPHQL``. Operations whose GraphQL field is still being built
wait in ``NOT_YET`` (shown as missing in the table). A REST operation in none of the three is a
gap the parity test names.
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
    "updateFamily": "Mutation.updateFamily",
    "archiveFamily": "Mutation.archiveFamily",
    "addMember": "Mutation.addMember",
    "updateMember": "Mutation.updateMember",
    "removeMember": "Mutation.removeMember",
    "recordVerification": "Mutation.recordVerification",
    "listVerifications": "Family.verifications",
    "enrollFamily": "Mutation.enrollFamily",
    "changeEnrollment": "Mutation.changeEnrollment",
    "enrollmentHistory": "Enrollment.history",
    "startImport": "Mutation.startImport",
    "getImport": "Query.importJob",
    "listImportRefusals": "Query.importRefusals",
    # Facilitators
    "listFacilitators": "Query.facilitators",
    "getFacilitator": "Query.facilitator",
    "createFacilitator": "Mutation.createFacilitator",
    "updateFacilitator": "Mutation.updateFacilitator",
    # Reports
    "reportVerificationFunnel": "Query.verificationFunnelReport",
    "reportGraduations": "Query.graduationsReport",
    "reportTrainingCompletion": "Query.trainingCompletionReport",
    "reportKube": "Query.kubeReport",
    "reportBudgetRealisation": "Query.budgetRealisationReport",
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
    "streamChanges": "A raw NDJSON stream; GraphQL callers page `changes` or subscribe.",
}

# REST operations whose GraphQL field is not built yet: "missing" in the table, not a failure.
# Empty once issue 12 is done.
NOT_YET: dict[str, str] = {
    # KUBE
    "updateKubeGroup": "issue 12",
    "changeKubeMemberRole": "issue 12",
    "removeKubeMember": "issue 12",
    "updateKubeGrant": "issue 12",
    "listKubeGrantTransitions": "issue 12",
    "addKubeGrantReport": "issue 12",
    "listKubeGrantReports": "issue 12",
    # Training
    "updateTrainingCohort": "issue 12",
    "changeTrainingCohortStatus": "issue 12",
    "addTrainingSession": "issue 12",
    "getAttendance": "issue 12",
    "listParticipants": "issue 12",
    "withdrawParticipant": "issue 12",
    "setAssessment": "issue 12",
    "setOutcome": "issue 12",
    # Money
    "createDisbursementBatch": "issue 12",
    "reconcileDisbursements": "issue 12",
    "listDisbursementTransitions": "issue 12",
    # Webhooks
    "createWebhook": "issue 12",
    "listWebhooks": "issue 12",
    "getWebhook": "issue 12",
    "updateWebhook": "issue 12",
    "deleteWebhook": "issue 12",
    "rotateWebhookSecret": "issue 12",
    "listWebhookDeliveries": "issue 12",
    "getWebhookDelivery": "issue 12",
    "redeliverWebhookDelivery": "issue 12",
    "redeliverParkedWebhookDeliveries": "issue 12",
}
