from django.urls import path

from journeys.api import views

urlpatterns = [
    path("journeys", views.JourneyListView.as_view(), name="journeys-list"),
    # Before journeys/<id>: "schema" is not an id.
    path("journeys/schema", views.JourneySchemaView.as_view(), name="journeys-schema"),
    path("journeys/<str:journey_id>", views.JourneyDetailView.as_view(), name="journeys-detail"),
    path(
        "journeys/<str:journey_id>/publish",
        views.JourneyPublishView.as_view(),
        name="journeys-publish",
    ),
    path(
        "journeys/<str:journey_id>/pause", views.JourneyPauseView.as_view(), name="journeys-pause"
    ),
    path(
        "journeys/<str:journey_id>/resume",
        views.JourneyResumeView.as_view(),
        name="journeys-resume",
    ),
    path(
        "journeys/<str:journey_id>/archive",
        views.JourneyArchiveView.as_view(),
        name="journeys-archive",
    ),
    path(
        "journeys/<str:journey_id>/versions",
        views.JourneyVersionsView.as_view(),
        name="journeys-versions",
    ),
    path(
        "journeys/<str:journey_id>/enrol", views.JourneyEnrolView.as_view(), name="journeys-enrol"
    ),
    path(
        "journeys/<str:journey_id>/enrolments",
        views.JourneyEnrolmentsView.as_view(),
        name="journeys-enrolments",
    ),
    path(
        "journeys/<str:journey_id>/stats", views.JourneyStatsView.as_view(), name="journeys-stats"
    ),
    path(
        "journeys/<str:journey_id>/migrate",
        views.JourneyMigrateView.as_view(),
        name="journeys-migrate",
    ),
    path(
        "enrolments/<str:enrolment_id>",
        views.EnrolmentDetailView.as_view(),
        name="enrolments-detail",
    ),
    path(
        "enrolments/<str:enrolment_id>/exit",
        views.EnrolmentExitView.as_view(),
        name="enrolments-exit",
    ),
    path(
        "customers/<str:customer_id>/journeys",
        views.CustomerJourneysView.as_view(),
        name="customers-journeys",
    ),
    path("journey-templates", views.JourneyTemplatesView.as_view(), name="journey-templates"),
    path(
        "journey-templates/<str:key>/copy",
        views.JourneyTemplateCopyView.as_view(),
        name="journey-templates-copy",
    ),
    path("staff-tasks", views.StaffTasksView.as_view(), name="staff-tasks-list"),
    path(
        "staff-tasks/<str:task_id>/complete",
        views.StaffTaskCompleteView.as_view(),
        name="staff-tasks-complete",
    ),
]
