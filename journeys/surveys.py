"""After the round: the two-question survey (NPS 0-10 and "What one thing should we
improve?") behind the link the ready-made journey `after_round_survey` sends the morning after
a round (journeys.presets; the link is profiles.rounds' signed round link of kind "survey",
one per booking and golfer).

An answer is a row here (one per booking: answering twice changes nothing and says so), a
timeline entry `crm.survey.answered` (which the segment fields `lastNps` and `npsBand` read),
a staff task for the club manager when the golfer is a detractor (0-6), and the club's review
link on the thank-you page for a promoter (9-10)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from journeys.models import (
    FeedbackSettings,
    NpsBand,
    RoundSurveyAnswer,
    StaffTask,
    StaffTaskStatus,
)
from profiles.models import ActivityCategory, Customer
from profiles.services import customer_activity_add

SURVEY_ACTIVITY = "crm.survey.answered"
MAX_COMMENT = 1000


class SurveyAlreadyAnswered(Exception):
    """This round's survey has an answer already."""


def feedback_settings() -> FeedbackSettings:
    row, _ = FeedbackSettings.objects.get_or_create(id=1)
    return row


def nps_band(score: int) -> str:
    if score <= 6:
        return NpsBand.DETRACTOR
    return NpsBand.PASSIVE if score <= 8 else NpsBand.PROMOTER


def survey_answered(*, booking_id: str) -> RoundSurveyAnswer | None:
    return RoundSurveyAnswer.objects.filter(booking_id=booking_id).first()


@transaction.atomic
def round_survey_answer(
    *,
    booking_id: str,
    customer: Customer,
    score: Any,
    comment: str = "",
    now: dt.datetime | None = None,
) -> RoundSurveyAnswer:
    """Record one round's answer. Raises ValidationError naming the field at fault, or
    SurveyAlreadyAnswered; either way nothing is written."""
    now = now or timezone.now()
    errors: dict[str, list[str]] = {}
    try:
        value = int(str(score).strip())
    except (TypeError, ValueError):
        value = None
    if value is None or not 0 <= value <= 10:
        errors["score"] = ["Choose a number from 0 to 10."]
    comment = (comment or "").strip()
    if len(comment) > MAX_COMMENT:
        errors["comment"] = [f"At most {MAX_COMMENT} characters."]
    if errors:
        raise ValidationError(errors)
    assert value is not None
    band = nps_band(value)
    try:
        with transaction.atomic():
            answer = RoundSurveyAnswer.objects.create(
                booking_id=booking_id,
                customer=customer,
                score=value,
                band=band,
                comment=comment,
                answered_at=now,
            )
    except IntegrityError as exc:
        raise SurveyAlreadyAnswered from exc
    label = NpsBand(band).label.split(" (")[0].lower()
    customer_activity_add(
        customer=customer,
        type=SURVEY_ACTIVITY,
        category=ActivityCategory.GOLF,
        title=f"Rated the club {value}/10 after a round ({label})"
        + (f": “{comment[:200]}”" if comment else ""),
        occurred_at=now,
        data={"bookingId": booking_id, "score": value, "band": band, "comment": comment},
    )
    if band == NpsBand.DETRACTOR:
        rules = feedback_settings()
        name = customer.display_name or "this golfer"
        answer.staff_task = StaffTask.objects.create(
            customer=customer,
            step="after_round_survey",
            title=f"Call {name}: rated us {value}/10 after a round"[:200],
            body=comment or "(no comment)",
            assigned_to=rules.detractor_task_assigned_to,
            status=StaffTaskStatus.OPEN,
            created_at=now,
        )
        answer.save(update_fields=["staff_task"])
    return answer


def club_nps(
    *,
    weeks: int = 8,
    now: dt.datetime | None = None,
    tz: str = "UTC",
    since: dt.datetime | None = None,
) -> dict[str, Any]:
    """The club's NPS by week (Monday, club time) and by day part of the round (the dashboard
    tile): % promoters minus % detractors, with the counts. Answers since `since` (default:
    `weeks` before now); weeks without answers are absent."""
    now = now or timezone.now()
    since = since or now - dt.timedelta(weeks=weeks)
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT date_trunc('week', s.answered_at AT TIME ZONE %(tz)s)::date,
                   count(*), count(*) FILTER (WHERE s.band = 'PROMOTER'),
                   count(*) FILTER (WHERE s.band = 'DETRACTOR')
            FROM journeys_roundsurveyanswer AS s WHERE s.answered_at >= %(since)s
            GROUP BY 1 ORDER BY 1
            """,
            {"tz": tz, "since": since},
        )
        weekly = cursor.fetchall()
        # The round's day part comes from its booking's tee time on the timeline.
        cursor.execute(
            """
            SELECT CASE
                     WHEN extract(isodow from t.local) >= 6 THEN 'weekend'
                     WHEN extract(hour from t.local) < 12 THEN 'weekday_morning'
                     WHEN extract(hour from t.local) < 17 THEN 'weekday_afternoon'
                     ELSE 'weekday_evening' END,
                   count(*), count(*) FILTER (WHERE t.band = 'PROMOTER'),
                   count(*) FILTER (WHERE t.band = 'DETRACTOR')
            FROM (
                SELECT s.band, (coalesce((
                    SELECT (a.data->>'teeTime')::timestamptz FROM profiles_activity AS a
                    WHERE a.customer_id = s.customer_id AND a.type = 'teetime.booking.created'
                      AND a.data->>'bookingId' = s.booking_id LIMIT 1), s.answered_at)
                    AT TIME ZONE %(tz)s) AS local
                FROM journeys_roundsurveyanswer AS s WHERE s.answered_at >= %(since)s
            ) AS t GROUP BY 1
            """,
            {"tz": tz, "since": since},
        )
        by_part = cursor.fetchall()

    def score(n: int, promoters: int, detractors: int) -> dict[str, Any]:
        nps = round(100 * (promoters - detractors) / n) if n else None
        return {"answers": n, "promoters": promoters, "detractors": detractors, "nps": nps}

    return {
        "weeks": [{"weekStarting": w.isoformat(), **score(*rest)} for w, *rest in weekly],
        "dayParts": [{"dayPart": part, **score(*rest)} for part, *rest in by_part],
    }
