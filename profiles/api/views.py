"""Customer endpoints of api.md. Thin: validate input, call a selector, shape the output."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from crm.api.views import TenantAPIView
from profiles.api.serializers import CustomerFilterSerializer, CustomerOutputSerializer
from profiles.selectors import customer_get, customer_list


class CustomerListView(TenantAPIView):
    @extend_schema(
        operation_id="customers_list",
        parameters=[
            OpenApiParameter(name, str, description=description)
            for name, description in (
                ("email", "Exact email (case-insensitive)."),
                ("phoneNumber", "Phone as typed; read with the club's default country."),
                ("sclMemberId", "SCL member id."),
                ("teetimePlayerId", "TeeTime player id."),
                ("messagingContactId", "Messaging contact id."),
                ("q", "Search names, email, phone and source ids."),
            )
        ],
        responses=CustomerOutputSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        filters = CustomerFilterSerializer(
            data=request.query_params, context={"tenant": request.tenant}
        )
        filters.is_valid(raise_exception=True)
        queryset = customer_list(filters=filters.to_filters())
        return self.paginate(request, queryset, CustomerOutputSerializer)


class CustomerDetailView(TenantAPIView):
    @extend_schema(operation_id="customers_retrieve", responses=CustomerOutputSerializer)
    def get(self, request: Request, customer_id: str) -> Response:
        customer = customer_get(customer_id=customer_id)
        if customer is None:
            raise NotFound("No customer with this id in this club.")
        return self.respond_object(customer, CustomerOutputSerializer)
