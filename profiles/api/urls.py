from django.urls import path

from profiles.api import views

urlpatterns = [
    path("customers", views.CustomerListView.as_view(), name="customers-list"),
    path(
        "customers/<str:customer_id>", views.CustomerDetailView.as_view(), name="customers-detail"
    ),
]
