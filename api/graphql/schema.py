"""The GraphQL door: the same service functions, permissions and region rules as REST.

This module composes the schema: each root field names its resolver (one module per domain),
its permission and the text integrators read. The resolvers parse, call the service and render.
"""

from __future__ import annotations

import strawberry
from strawberry.schema.config import StrawberryConfig

from api.graphql import (
    change_resolvers,
    facilitator_resolvers,
    import_resolvers,
    kpm_resolvers,
    kube_resolvers,
    money_resolvers,
    program_resolvers,
    region_resolvers,
    report_resolvers,
    training_resolvers,
    webhook_resolvers,
)
from api.graphql.limits import request_guards
from api.graphql.permissions import IsAuthenticated
from api.graphql.router import DinsosSchema
from api.graphql.scalars import SCALARS
from api.graphql.units_of_work import RootFieldsInTurn
from service.settings import Settings

KUBE_READ = "Needs kube:read."
KUBE_WRITE = "Needs kube:write. Same rules and error codes as the REST endpoint."
KPM_WRITE = (
    "Needs kpm:write. `expectedVersion` is the family's version (REST's If-Match, required): "
    "a stale one fails with code `version_mismatch`. Same rules and error codes as REST."
)
REPORTS_READ = (
    "Needs reports:read. `region` narrows it to a region inside your own (default: all of it); "
    "the same figures as REST's JSON."
)
TRAINING_READ = "Needs training:read."
TRAINING_WRITE = "Needs training:write. Same rules and error codes as the REST endpoint."
MONEY_WRITE = (
    "Needs disbursements:write. Runs at most once per `idempotencyKey`, as REST's "
    "Idempotency-Key (shared with REST), as createDisbursement."
)
WEBHOOKS = "Needs webhooks:manage. Only this client's subscriptions; another's is not_found."
# `expectedVersion`, where offered, is REST's If-Match: optional; a stale one fails with code
# `version_mismatch`.


@strawberry.type
class Query:
    region = strawberry.field(
        resolver=region_resolvers.region, permission_classes=[IsAuthenticated]
    )
    regions = strawberry.field(
        resolver=region_resolvers.regions_list, permission_classes=[IsAuthenticated]
    )
    program = strawberry.field(
        resolver=program_resolvers.program, permission_classes=[IsAuthenticated]
    )
    programs = strawberry.field(
        resolver=program_resolvers.programs_list, permission_classes=[IsAuthenticated]
    )
    family = strawberry.field(
        resolver=kpm_resolvers.family,
        permission_classes=[IsAuthenticated],
        description="Needs kpm:read.",
    )
    families = strawberry.field(
        resolver=kpm_resolvers.families_list,
        permission_classes=[IsAuthenticated],
        description="Live families in your region with their members, as REST's list.",
    )
    # KPM: facilitators, imports, reports
    facilitator = strawberry.field(
        resolver=facilitator_resolvers.facilitator,
        permission_classes=[IsAuthenticated],
        description="Needs facilitators:read.",
    )
    facilitators = strawberry.field(
        resolver=facilitator_resolvers.facilitators_list,
        permission_classes=[IsAuthenticated],
        description="Facilitators (pendamping) working in your region, as REST's list; `region` "
        "narrows it to an area. Needs facilitators:read.",
    )
    import_job = strawberry.field(
        resolver=import_resolvers.import_job,
        permission_classes=[IsAuthenticated],
        description="An import's status and counts so far. Only the client that started it "
        "sees it. Needs kpm:read.",
    )
    import_refusals = strawberry.field(
        resolver=import_resolvers.import_refusals,
        permission_classes=[IsAuthenticated],
        description="Why families of an import were refused, one entry per problem; NIK and "
        "No KK masked without pii:read. Needs kpm:read.",
    )
    verification_funnel_report = strawberry.field(
        resolver=report_resolvers.verification_funnel_report,
        permission_classes=[IsAuthenticated],
        description="Live families (and people) listed, not yet visited, and by the outcome "
        "of their latest verification visit. " + REPORTS_READ,
    )
    graduations_report = strawberry.field(
        resolver=report_resolvers.graduations_report,
        permission_classes=[IsAuthenticated],
        description="Active facilitators with the graduations credited to them in `year` "
        "(default: this year), by kind, against their target. " + REPORTS_READ,
    )
    training_completion_report = strawberry.field(
        resolver=report_resolvers.training_completion_report,
        permission_classes=[IsAuthenticated],
        description="Training cohorts: sessions, participants, completions and businesses "
        "started. " + REPORTS_READ,
    )
    kube_report = strawberry.field(
        resolver=report_resolvers.kube_report,
        permission_classes=[IsAuthenticated],
        description="KUBE groups by status, and their grants by status with their sums. "
        + REPORTS_READ,
    )
    budget_realisation_report = strawberry.field(
        resolver=report_resolvers.budget_realisation_report,
        permission_classes=[IsAuthenticated],
        description="Per allocation: amount, committed, confirmed paid, remaining and "
        "absorption. " + REPORTS_READ,
    )
    kube_group = strawberry.field(
        resolver=kube_resolvers.kube_group,
        permission_classes=[IsAuthenticated],
        description=KUBE_READ,
    )
    kube_groups = strawberry.field(
        resolver=kube_resolvers.kube_groups,
        permission_classes=[IsAuthenticated],
        description="KUBE groups in your region, ordered by last change. Needs kube:read.",
    )
    kube_grant = strawberry.field(
        resolver=kube_resolvers.kube_grant,
        permission_classes=[IsAuthenticated],
        description=KUBE_READ,
    )
    kube_grants = strawberry.field(
        resolver=kube_resolvers.kube_grants,
        permission_classes=[IsAuthenticated],
        description="KUBE grants in your region, ordered by last change. Needs kube:read.",
    )
    training_cohort = strawberry.field(
        resolver=training_resolvers.training_cohort,
        permission_classes=[IsAuthenticated],
        description=TRAINING_READ,
    )
    training_cohorts = strawberry.field(
        resolver=training_resolvers.training_cohorts,
        permission_classes=[IsAuthenticated],
        description="Training cohorts held in your region, ordered by last change. "
        "Needs training:read.",
    )
    allocation = strawberry.field(
        resolver=money_resolvers.allocation,
        permission_classes=[IsAuthenticated],
        description="Needs allocations:read.",
    )
    allocations = strawberry.field(
        resolver=money_resolvers.allocations_list,
        permission_classes=[IsAuthenticated],
        description="Allocations in your region, as REST's list. Needs allocations:read.",
    )
    disbursement = strawberry.field(
        resolver=money_resolvers.disbursement,
        permission_classes=[IsAuthenticated],
        description="Needs disbursements:read.",
    )
    disbursements = strawberry.field(
        resolver=money_resolvers.disbursements_list,
        permission_classes=[IsAuthenticated],
        description="Disbursements to recipients in your region, as REST's list. "
        "Needs disbursements:read.",
    )
    # Webhooks
    webhook = strawberry.field(
        resolver=webhook_resolvers.webhook,
        permission_classes=[IsAuthenticated],
        description=WEBHOOKS,
    )
    webhooks = strawberry.field(
        resolver=webhook_resolvers.webhooks,
        permission_classes=[IsAuthenticated],
        description="This client's subscriptions, by last change. " + WEBHOOKS,
    )
    webhook_deliveries = strawberry.field(
        resolver=webhook_resolvers.webhook_deliveries,
        permission_classes=[IsAuthenticated],
        description='A subscription\'s delivery log, newest first; `status: "parked"` lists '
        "those whose retries gave up. " + WEBHOOKS,
    )
    webhook_delivery = strawberry.field(
        resolver=webhook_resolvers.webhook_delivery,
        permission_classes=[IsAuthenticated],
        description="One delivery with every attempt. " + WEBHOOKS,
    )
    changes = strawberry.field(
        resolver=change_resolvers.changes,
        permission_classes=[IsAuthenticated],
        description="The change feed, as REST's GET /api/v1/changes (without `wait`): what "
        "changed in your region, in commit order, never missing a committed change. Needs "
        "changes:read.",
    )


@strawberry.type
class Subscription:
    changes = strawberry.subscription(
        resolver=change_resolvers.live_changes,
        permission_classes=[IsAuthenticated],
        description="The change feed, live, over a WebSocket (graphql-transport-ws, token in "
        "the connection_init payload as `Authorization: Bearer ...`): every change in your "
        "region after `after`, in commit order, with the same records, masking and audit as "
        "REST's GET /api/v1/changes, then each new one as it is committed. Every change comes "
        "with its `cursor`: subscribe again with the last one you applied to go on without a "
        "gap or a repeat. Needs changes:read.",
    )


@strawberry.type
class Mutation:
    create_family = strawberry.mutation(
        resolver=kpm_resolvers.create_family,
        permission_classes=[IsAuthenticated],
        description="Needs kpm:write.",
    )
    # KPM: families, members, verification, enrollment, facilitators, imports
    update_family = strawberry.mutation(
        resolver=kpm_resolvers.update_family,
        permission_classes=[IsAuthenticated],
        description="Change the family's own fields; only those sent. " + KPM_WRITE,
    )
    archive_family = strawberry.mutation(
        resolver=kpm_resolvers.archive_family,
        permission_classes=[IsAuthenticated],
        description="Archive a family with a reason: it leaves lists and exports, its No KK "
        "and NIKs are free for another family; still readable by id. " + KPM_WRITE,
    )
    add_member = strawberry.mutation(
        resolver=kpm_resolvers.add_member,
        permission_classes=[IsAuthenticated],
        description="Add a person to the family. " + KPM_WRITE,
    )
    update_member = strawberry.mutation(
        resolver=kpm_resolvers.update_member,
        permission_classes=[IsAuthenticated],
        description="Change a member; the family keeps exactly one KEPALA_KELUARGA. " + KPM_WRITE,
    )
    remove_member = strawberry.mutation(
        resolver=kpm_resolvers.remove_member,
        permission_classes=[IsAuthenticated],
        description="Remove a member; answers the family as it is now. " + KPM_WRITE,
    )
    record_verification = strawberry.mutation(
        resolver=kpm_resolvers.record_verification,
        permission_classes=[IsAuthenticated],
        description="Record a field visit (verval): the family's verificationStatus becomes the "
        "outcome of its latest visit by date. Needs kpm:write.",
    )
    enroll_family = strawberry.mutation(
        resolver=kpm_resolvers.enroll_family,
        permission_classes=[IsAuthenticated],
        description="Enroll the family in a program, as proposed or active. Needs kpm:write.",
    )
    change_enrollment = strawberry.mutation(
        resolver=kpm_resolvers.change_enrollment,
        permission_classes=[IsAuthenticated],
        description="Move an enrollment: proposed -> active | exited; active -> suspended | "
        "graduated | exited; suspended -> active | graduated | exited (`invalid_transition` "
        "otherwise). Graduating needs `graduationKind`. `expectedVersion` is the enrollment's "
        "version (REST's If-Match, required). Needs kpm:write.",
    )
    create_facilitator = strawberry.mutation(
        resolver=facilitator_resolvers.create_facilitator,
        permission_classes=[IsAuthenticated],
        description="Register a facilitator; the area must lie in your region. Needs "
        "facilitators:write.",
    )
    update_facilitator = strawberry.mutation(
        resolver=facilitator_resolvers.update_facilitator,
        permission_classes=[IsAuthenticated],
        description="Change a facilitator; only the fields sent. `expectedVersion` is its "
        "version (REST's If-Match, required). Needs facilitators:write.",
    )
    start_import = strawberry.mutation(
        resolver=import_resolvers.start_import,
        permission_classes=[IsAuthenticated],
        description="Import a roll of families (`format`: csv or ndjson), sent as `file` in a "
        "multipart request (the GraphQL multipart request spec; the request must carry the "
        "bearer token). As REST's POST /api/v1/kpm/imports: answers the queued job at once; "
        "read `importJob` and `importRefusals`. Needs kpm:write.",
    )
    create_program = strawberry.mutation(
        resolver=program_resolvers.create_program,
        permission_classes=[IsAuthenticated],
        description="Needs programs:write.",
    )
    update_program = strawberry.mutation(
        resolver=program_resolvers.update_program,
        permission_classes=[IsAuthenticated],
        description="Needs programs:write. `expectedVersion` is the version you read (REST's "
        "If-Match); a stale one fails with code `version_mismatch`.",
    )
    create_kube_group = strawberry.mutation(
        resolver=kube_resolvers.create_kube_group,
        permission_classes=[IsAuthenticated],
        description=KUBE_WRITE,
    )
    add_kube_member = strawberry.mutation(
        resolver=kube_resolvers.add_kube_member,
        permission_classes=[IsAuthenticated],
        description=KUBE_WRITE,
    )
    change_kube_group_status = strawberry.mutation(
        resolver=kube_resolvers.change_kube_group_status,
        permission_classes=[IsAuthenticated],
        description=KUBE_WRITE,
    )
    create_kube_grant = strawberry.mutation(
        resolver=kube_resolvers.create_kube_grant,
        permission_classes=[IsAuthenticated],
        description=KUBE_WRITE,
    )
    transition_kube_grant = strawberry.mutation(
        resolver=kube_resolvers.transition_kube_grant,
        permission_classes=[IsAuthenticated],
        description=KUBE_WRITE,
    )
    update_kube_group = strawberry.mutation(
        resolver=kube_resolvers.update_kube_group,
        permission_classes=[IsAuthenticated],
        description=KUBE_WRITE + " `expectedVersion` is required, as REST's If-Match.",
    )
    change_kube_member_role = strawberry.mutation(
        resolver=kube_resolvers.change_kube_member_role,
        permission_classes=[IsAuthenticated],
        description=KUBE_WRITE,
    )
    remove_kube_member = strawberry.mutation(
        resolver=kube_resolvers.remove_kube_member,
        permission_classes=[IsAuthenticated],
        description=KUBE_WRITE,
    )
    update_kube_grant = strawberry.mutation(
        resolver=kube_resolvers.update_kube_grant,
        permission_classes=[IsAuthenticated],
        description=KUBE_WRITE + " `expectedVersion` is required, as REST's If-Match.",
    )
    add_kube_grant_report = strawberry.mutation(
        resolver=kube_resolvers.add_kube_grant_report,
        permission_classes=[IsAuthenticated],
        description=KUBE_WRITE + " The first report moves a disbursed grant to reporting.",
    )
    create_training_cohort = strawberry.mutation(
        resolver=training_resolvers.create_training_cohort,
        permission_classes=[IsAuthenticated],
        description=TRAINING_WRITE,
    )
    enrol_participant = strawberry.mutation(
        resolver=training_resolvers.enrol_participant,
        permission_classes=[IsAuthenticated],
        description=TRAINING_WRITE,
    )
    record_attendance = strawberry.mutation(
        resolver=training_resolvers.record_attendance,
        permission_classes=[IsAuthenticated],
        description=TRAINING_WRITE,
    )
    update_training_cohort = strawberry.mutation(
        resolver=training_resolvers.update_training_cohort,
        permission_classes=[IsAuthenticated],
        description=TRAINING_WRITE + " `expectedVersion` is required, as REST's If-Match.",
    )
    change_training_cohort_status = strawberry.mutation(
        resolver=training_resolvers.change_training_cohort_status,
        permission_classes=[IsAuthenticated],
        description=TRAINING_WRITE,
    )
    add_training_session = strawberry.mutation(
        resolver=training_resolvers.add_training_session,
        permission_classes=[IsAuthenticated],
        description=TRAINING_WRITE,
    )
    withdraw_participant = strawberry.mutation(
        resolver=training_resolvers.withdraw_participant,
        permission_classes=[IsAuthenticated],
        description=TRAINING_WRITE + " Answers the cohort without the participant.",
    )
    set_assessment = strawberry.mutation(
        resolver=training_resolvers.set_assessment,
        permission_classes=[IsAuthenticated],
        description=TRAINING_WRITE,
    )
    set_outcome = strawberry.mutation(
        resolver=training_resolvers.set_outcome,
        permission_classes=[IsAuthenticated],
        description=TRAINING_WRITE,
    )
    create_allocation = strawberry.mutation(
        resolver=money_resolvers.create_allocation,
        permission_classes=[IsAuthenticated],
        description="Needs allocations:write.",
    )
    update_allocation = strawberry.mutation(
        resolver=money_resolvers.update_allocation,
        permission_classes=[IsAuthenticated],
        description="Needs allocations:write. `expectedVersion` is the version you read (REST's "
        "If-Match); the amount cannot go below what is committed.",
    )
    create_disbursement = strawberry.mutation(
        resolver=money_resolvers.create_disbursement,
        permission_classes=[IsAuthenticated],
        description="Needs disbursements:write. Runs at most once per `idempotencyKey`, as REST's "
        "Idempotency-Key (shared with REST): a retry with the same key and input answers the "
        "first result; another input is refused (`idempotency_key_reused`); while the first "
        "still runs, `idempotency_in_progress`. Commits on its own, whatever else the request "
        "does.",
    )
    transition_disbursement = strawberry.mutation(
        resolver=money_resolvers.transition_disbursement,
        permission_classes=[IsAuthenticated],
        description="Needs disbursements:write. Moves: scheduled -> sent -> confirmed | failed, "
        "confirmed -> reversed (`invalid_transition` otherwise). Runs at most once per "
        "`idempotencyKey`, as createDisbursement.",
    )
    create_disbursement_batch = strawberry.mutation(
        resolver=money_resolvers.create_disbursement_batch,
        permission_classes=[IsAuthenticated],
        description="Up to 10,000 disbursements, each checked on its own with the rules of "
        "createDisbursement: a result per item (created with its id, or refused with the code "
        "and field REST gives) and the totals. " + MONEY_WRITE,
    )
    reconcile_disbursements = strawberry.mutation(
        resolver=money_resolvers.reconcile_disbursements,
        permission_classes=[IsAuthenticated],
        description="The bank's or post office's settlement file (CSV, as REST's POST "
        "/api/v1/disbursements/reconciliations, up to 20 MB) sent as `file` by the GraphQL "
        "multipart request spec. " + MONEY_WRITE,
    )
    # Webhooks
    create_webhook = strawberry.mutation(
        resolver=webhook_resolvers.create_webhook,
        permission_classes=[IsAuthenticated],
        description="Subscribe an https:// endpoint to the changes this client may see. Needs "
        "webhooks:manage and changes:read. The answer carries the signing `secret` this once.",
    )
    update_webhook = strawberry.mutation(
        resolver=webhook_resolvers.update_webhook,
        permission_classes=[IsAuthenticated],
        description="Change url, event types, description, or pause and resume. "
        "`expectedVersion` is required, as REST's If-Match. " + WEBHOOKS,
    )
    delete_webhook = strawberry.mutation(
        resolver=webhook_resolvers.delete_webhook,
        permission_classes=[IsAuthenticated],
        description="Unsubscribe; answers the id. `expectedVersion` is optional. " + WEBHOOKS,
    )
    rotate_webhook_secret = strawberry.mutation(
        resolver=webhook_resolvers.rotate_webhook_secret,
        permission_classes=[IsAuthenticated],
        description="A new signing secret, returned this once; the old one signs beside it "
        "for the grace period. " + WEBHOOKS,
    )
    redeliver_webhook_delivery = strawberry.mutation(
        resolver=webhook_resolvers.redeliver_webhook_delivery,
        permission_classes=[IsAuthenticated],
        description="Send a delivered or parked delivery again. " + WEBHOOKS,
    )
    redeliver_parked_webhook_deliveries = strawberry.mutation(
        resolver=webhook_resolvers.redeliver_parked_webhook_deliveries,
        permission_classes=[IsAuthenticated],
        description="Send every parked delivery again. " + WEBHOOKS,
    )


def build_schema(settings: Settings) -> DinsosSchema:
    return DinsosSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        config=StrawberryConfig(scalar_map=SCALARS),
        extensions=[request_guards(settings)],
        execution_context_class=RootFieldsInTurn,
    )
