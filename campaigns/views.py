"""The one-click unsubscribe page (RFC 8058) of the built-in email fallback.

`GET /t/<club>/unsubscribe/<token>` shows a page with one button (a GET never unsubscribes:
mail scanners follow links); `POST` to the same URL, which is what a mail client's one-click
`List-Unsubscribe-Post: List-Unsubscribe=One-Click` sends, opts the customer out at once. The
token is the send's id signed with the project's key, so it names one message of this club
and cannot be guessed; no login or CSRF token is needed (the mail client has neither).
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from campaigns.models import Send
from campaigns.sending import unsubscribe_token_send_id
from campaigns.services import send_unsubscribe


@method_decorator(csrf_exempt, name="dispatch")
class UnsubscribeView(View):
    http_method_names = ["get", "post"]

    def _send(self, token: str) -> Send | None:
        send_id = unsubscribe_token_send_id(token)
        if not send_id:
            return None
        try:
            return Send.objects.select_related("customer").filter(pk=send_id).first()
        except ValueError:
            return None

    def get(self, request: HttpRequest, token: str) -> HttpResponse:
        send = self._send(token)
        return TemplateResponse(
            request,
            "campaigns/unsubscribe.html",
            {"send": send, "done": False, "club": request.tenant.name},
            status=200 if send else 404,
        )

    def post(self, request: HttpRequest, token: str) -> HttpResponse:
        send = self._send(token)
        if send is None:
            return TemplateResponse(
                request, "campaigns/unsubscribe.html", {"send": None, "club": request.tenant.name},
                status=404,
            )  # fmt: skip
        send_unsubscribe(send=send)
        return TemplateResponse(
            request,
            "campaigns/unsubscribe.html",
            {"send": send, "done": True, "club": request.tenant.name},
        )
