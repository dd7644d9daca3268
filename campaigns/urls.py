from django.urls import path

from campaigns.views import UnsubscribeView

urlpatterns = [
    path("unsubscribe/<str:token>", UnsubscribeView.as_view(), name="campaigns-unsubscribe"),
]
