"""The after-the-round survey page (journeys.surveys): `/t/<club>/round/survey/<token>`,
club-branded, no login, one answer per round. Answering twice, or after the link expired, says
so and changes nothing."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from journeys.models import NpsBand
from journeys.surveys import (
    SurveyAlreadyAnswered,
    feedback_settings,
    round_survey_answer,
    survey_answered,
)
from profiles.models import Customer
from profiles.rounds import LinkExpired, LinkInvalid, round_link_read

TEMPLATE = "journeys/round_survey.html"


@method_decorator(csrf_exempt, name="dispatch")
class RoundSurveyView(View):
    http_method_names = ["get", "post"]

    def _page(self, request: HttpRequest, context: dict, status: int = 200) -> HttpResponse:
        return TemplateResponse(
            request,
            TEMPLATE,
            {"club": request.tenant.name, "scores": range(11), **context},
            status=status,
        )

    def _open(self, request: HttpRequest, token: str):
        try:
            link = round_link_read(token=token, kind="survey")
        except LinkExpired:
            return None, self._page(request, {"problem": "expired"}, 410)
        except LinkInvalid:
            return None, self._page(request, {"problem": "invalid"}, 404)
        customer = Customer.objects.filter(id=link["customerId"]).first()
        if customer is None:
            return None, self._page(request, {"problem": "invalid"}, 404)
        if survey_answered(booking_id=link["bookingId"]):
            return None, self._page(request, {"problem": "answered"}, 409)
        return (link["bookingId"], customer), None

    def get(self, request: HttpRequest, token: str) -> HttpResponse:
        opened, refused = self._open(request, token)
        return refused or self._page(request, {"customer": opened[1]})

    def post(self, request: HttpRequest, token: str) -> HttpResponse:
        opened, refused = self._open(request, token)
        if refused:
            return refused
        booking_id, customer = opened
        try:
            answer = round_survey_answer(
                booking_id=booking_id,
                customer=customer,
                score=request.POST.get("score"),
                comment=request.POST.get("improve", "")[:5000],
            )
        except ValidationError as exc:
            errors = [" ".join(v) for v in exc.message_dict.values()]
            return self._page(request, {"customer": customer, "errors": errors}, 400)
        except SurveyAlreadyAnswered:
            return self._page(request, {"problem": "answered"}, 409)
        review = feedback_settings().review_url if answer.band == NpsBand.PROMOTER else ""
        return self._page(request, {"done": True, "review_url": review, "customer": customer})
