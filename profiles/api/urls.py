from django.urls import path

from profiles.api import views

urlpatterns = [
    path("events", views.EventIngestView.as_view(), name="events"),
    path("customers", views.CustomerListView.as_view(), name="customers-list"),
    path("customers/resolve", views.CustomerResolveView.as_view(), name="customers-resolve"),
    path(
        "customers/<str:customer_id>", views.CustomerDetailView.as_view(), name="customers-detail"
    ),
    path(
        "customers/<str:customer_id>/activities",
        views.CustomerActivitiesView.as_view(),
        name="customers-activities",
    ),
    path(
        "customers/<str:customer_id>/merge",
        views.CustomerMergeView.as_view(),
        name="customers-merge",
    ),
    path(
        "customers/<str:customer_id>/unmerge",
        views.CustomerUnmergeView.as_view(),
        name="customers-unmerge",
    ),
    path(
        "customers/<str:customer_id>/export",
        views.CustomerExportView.as_view(),
        name="customers-export",
    ),
    path(
        "customers/<str:customer_id>/erase",
        views.CustomerEraseView.as_view(),
        name="customers-erase",
    ),
    path(
        "customers/<str:customer_id>/notes",
        views.CustomerNotesView.as_view(),
        name="customers-notes",
    ),
    path(
        "customers/<str:customer_id>/tags", views.CustomerTagsView.as_view(), name="customers-tags"
    ),
]
