"""Permission classes. Every mutation declares one (a test enforces it); the finer rules, scopes
and regions, are checked by the service functions the resolvers call, as for REST."""

from __future__ import annotations

from typing import Any

from strawberry.permission import BasePermission
from strawberry.types import Info

from api.graphql.context import GraphQLContext


class IsAuthenticated(BasePermission):
    message = "Send a bearer token from POST /oauth/token."
    error_extensions = {"code": "unauthorized", "status": 401}

    def has_permission(self, source: Any, info: Info[GraphQLContext, None], **kwargs: Any) -> bool:
        return info.context.optional_caller is not None
