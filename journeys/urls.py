from django.urls import path

from journeys.views import RoundSurveyView

# The after-the-round survey page (signed link, no login).
urlpatterns = [
    path("round/survey/<str:token>", RoundSurveyView.as_view(), name="round-survey"),
]
