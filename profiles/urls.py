from django.urls import path

from profiles.views import GuestFormView

# The booker's guest form (profiles.rounds; signed link, no login).
urlpatterns = [
    path("round/guests/<str:token>", GuestFormView.as_view(), name="round-guests"),
]
