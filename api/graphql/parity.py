"""Which GraphQL field does what each REST operation does: the one list the parity table
(``openapi/parity.md``) and its test are generated from.

Every REST operation (by its OpenAPI ``operationId``) names its GraphQL counterpart as
``"Query.field"``, ``"Mutation.field"`` or ``"Subscription.field"`` (the schema's own,
camelCase, names), or ``"Type.field"`` where REST reads a sub-resource of one record
(``"Family.verifications"``), or the reason it has none in ``WITHOUT_GRAPHQL``. Operations
whose GraphQL field is still being built wait in ``NOT_YET`` (shown as missing in the table).
A REST operation in none of the three is a gap the parity test names.
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
    "updateKubeGroup": "Mutation.updateKubeGroup",
    "changeKubeMemberRole": "Mutation.changeKubeMemberRole",
    "removeKubeMember": "Mutation.removeKubeMember",
    "updateKubeGrant": "Mutation.updateKubeGrant",
    "listKubeGrantTransitions": "KubeGrant.transitions",
    "addKubeGrantReport": "Mutation.addKubeGrantReport",
    "listKubeGrantReports": "KubeGrant.reports",
    # Training
    "listTrainingCohorts": "Query.trainingCohorts",
    "getTrainingCohort": "Query.trainingCohort",
    "createTrainingCohort": "Mutation.createTrainingCohort",
    "enrolParticipant": "Mutation.enrolParticipant",
    "recordAttendance": "Mutation.recordAttendance",
    "updateTrainingCohort": "Mutation.updateTrainingCohort",
    "changeTrainingCohortStatus": "Mutation.changeTrainingCohortStatus",
    "addTrainingSession": "Mutation.addTrainingSession",
    "getAttendance": "TrainingSession.attendance",
    "listParticipants": "TrainingCohort.participants",
    "withdrawParticipant": "Mutation.withdrawParticipant",
    "setAssessment": "Mutation.setAssessment",
    "setOutcome": "Mutation.setOutcome",
    # Money
    "listAllocations": "Query.allocations",
    "getAllocation": "Query.allocation",
    "createAllocation": "Mutation.createAllocation",
    "updateAllocation": "Mutation.updateAllocation",
    "listDisbursements": "Query.disbursements",
    "getDisbursement": "Query.disbursement",
    "createDisbursement": "Mutation.createDisbursement",
    "transitionDisbursement": "Mutation.transitionDisbursement",
    "createDisbursementBatch": "Mutation.createDisbursementBatch",
    "reconcileDisbursements": "Mutation.reconcileDisbursements",
    "listDisbursementTransitions": "Disbursement.transitions",
    # Webhooks
    "createWebhook": "Mutation.createWebhook",
    "listWebhooks": "Query.webhooks",
    "getWebhook": "Query.webhook",
    "updateWebhook": "Mutation.updateWebhook",
    "deleteWebhook": "Mutation.deleteWebhook",
    "rotateWebhookSecret": "Mutation.rotateWebhookSecret",
    "listWebhookDeliveries": "Query.webhookDeliveries",
    "getWebhookDelivery": "Query.webhookDelivery",
    "redeliverWebhookDelivery": "Mutation.redeliverWebhookDelivery",
    "redeliverParkedWebhookDeliveries": "Mutation.redeliverParkedWebhookDeliveries",
    # Changes
    "listChanges": "Query.changes",
    # The catch-up stream, and the live feed after it: one subscription, over a WebSocket.
    "streamChanges": "Subscription.changes",
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
    # The DCI door speaks its own standard (signed envelopes); its searches are GraphQL's
    # `families` and `family` reads.
    "dciSyncSearch": "The DCI Social Registry door: its own protocol, over the same service.",
    "dciSyncTxnStatus": "The DCI Social Registry door: its own protocol, over the same service.",
    "dciJwks": "The DCI door's public signing key, a JWKS document.",
    "dciSearch": "The DCI Social Registry door: its own protocol, over the same service.",
    "dciTxnStatus": "The DCI Social Registry door: its own protocol, over the same service.",
    "dciSubscribe": "The DCI door's subscriptions; GraphQL callers page `changes`.",
    "dciUnsubscribe": "The DCI door's subscriptions; GraphQL callers page `changes`.",
}

# REST operations whose GraphQL field is not built yet: "missing" in the table, not a failure.
# Empty once issue 12 is done.
NOT_YET: dict[str, str] = {}
