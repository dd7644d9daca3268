"""The booker's guest form (profiles.rounds): `/t/<club>/round/guests/<token>`, a club-branded
page with no login, reached by a signed, expiring link. GET shows the booking's guests the club
cannot name yet; POST records the answers (all or nothing), or shows what was wrong."""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from crm.tenants.selectors import tenant_of_request
from profiles.models import Customer
from profiles.rounds import (
    GuestEntry,
    LinkExpired,
    LinkInvalid,
    booking_guests,
    guest_form_submit,
    round_link_read,
)

TEMPLATE = "profiles/guest_form.html"


# A link in a message opens it; the signed token in the URL is what a CSRF token would prove.
@method_decorator(csrf_exempt, name="dispatch")
class GuestFormView(View):
    http_method_names = ["get", "post"]

    def _open(self, request: HttpRequest, token: str):
        try:
            link = round_link_read(token=token, kind="guests")
        except LinkExpired:
            return None, self._page(request, {"problem": "expired"}, 410)
        except LinkInvalid:
            return None, self._page(request, {"problem": "invalid"}, 404)
        booker = Customer.objects.filter(id=link["customerId"]).first()
        if booker is None:
            return None, self._page(request, {"problem": "invalid"}, 404)
        return (link["bookingId"], booker), None

    def _page(self, request: HttpRequest, context: dict, status: int = 200) -> HttpResponse:
        return TemplateResponse(
            request, TEMPLATE, {"club": tenant_of_request(request).name, **context}, status=status
        )

    def _context(self, booking_id: str, booker: Customer) -> dict:
        guests = booking_guests(booking_id=booking_id)
        return {
            "booker": booker,
            "guests": [g for g in guests if not g.named],
            "named": [g for g in guests if g.named],
        }

    def get(self, request: HttpRequest, token: str) -> HttpResponse:
        opened, refused = self._open(request, token)
        if refused:
            return refused
        return self._page(request, self._context(*opened))

    def post(self, request: HttpRequest, token: str) -> HttpResponse:
        opened, refused = self._open(request, token)
        if refused:
            return refused
        booking_id, booker = opened
        entries = []
        positions = []  # each entry's partner number on the page
        for position, player_id in enumerate(request.POST.getlist("playerId"), start=1):

            def field(name: str, player_id: str = player_id) -> str:
                return (request.POST.get(f"{name}-{player_id}") or "").strip()

            if not any(field(n) for n in ("firstName", "lastName", "email", "phone")):
                continue  # left empty: that partner stays unnamed
            positions.append(position)
            entries.append(
                GuestEntry(
                    player_id=player_id, first_name=field("firstName")[:100],
                    last_name=field("lastName")[:100], email=field("email")[:254],
                    phone=field("phone")[:40], wants_news=field("wantsNews") == "yes",
                )
            )  # fmt: skip
        try:
            named = guest_form_submit(booking_id=booking_id, booker=booker, entries=entries)
        except ValidationError as exc:
            context = self._context(booking_id, booker)
            errors = exc.message_dict
            return self._page(
                request,
                {
                    **context,
                    "errors": [f"{_label(k, positions)}: {' '.join(v)}" for k, v in errors.items()],
                },
                400,
            )
        return self._page(request, {"done": True, "count": len(named), "booker": booker})


def _label(path: str, positions: list[int]) -> str:
    """`guests[0].email` -> "Playing partner 2" (the page's own words, not the field path)."""
    found = re.match(r"guests\[(\d+)\]", path)
    if found and int(found.group(1)) < len(positions):
        return f"Playing partner {positions[int(found.group(1))]}"
    return "Your answers"
