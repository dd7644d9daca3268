"""After the demo club's events are applied (load_demo_data): what a club that uses the
product would have, made through the same services staff and integrators use, so the first
look at the admin shows it working. Re-runs add nothing (each step checks first).

- Scores for everyone, and a churn model trained on the club's year; with too little history
  the model is recorded as such and the rule-based score is used (the admin and the dashboard
  say which).
- Five segments from the templates, materialised.
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone

DEMO_SEGMENTS = (
    "at_risk_members",
    "renewal_due_30_days",
    "lapsed_golfers",
    "weekday_morning_players",
    "email_engaged",
)
ACTOR = "demo data"


def demo_scores() -> dict[str, Any]:
    from profiles.models import ChurnModel
    from profiles.scoring_services import churn_model_train, scores_recompute

    model = ChurnModel.objects.order_by("-version").first()
    if model is None:
        model = churn_model_train()
    result = scores_recompute()
    return {"scored": result["scored"], "churnModel": model.status, "modelNotes": model.notes}


def demo_segments() -> list[str]:
    from segments.models import Segment
    from segments.presets import templates_for
    from segments.services import segment_create, segment_refresh

    templates = {t["key"]: t for t in templates_for(month=timezone.now().month)}
    made = []
    for key in DEMO_SEGMENTS:
        template = templates[key]
        segment = (
            Segment.objects.filter(template_key=key).first()
            or Segment.objects.filter(name__iexact=template["name"]).first()
        )
        if segment is None:
            segment = segment_create(
                name=template["name"],
                rules=template["rules"],
                description=template.get("description", ""),
                template_key=key,
                actor_label=ACTOR,
            )
            made.append(segment.name)
        segment_refresh(segment_id=segment.id)
    return made


def demo_showcase() -> dict[str, Any]:
    """Run every step; each adds only what is missing."""
    scores = demo_scores()
    segments = demo_segments()
    from social.demo import demo_social_week

    demo_social_week()  # a week of planned posts, so the content calendar is not empty
    return {**scores, "segmentsCreated": segments}
