from django.urls import path

from segments.api import views

urlpatterns = [
    path("segments", views.SegmentListView.as_view(), name="segments-list"),
    path("segments/preview", views.SegmentPreviewView.as_view(), name="segments-preview"),
    path("segments/templates", views.SegmentTemplatesView.as_view(), name="segments-templates"),
    path("segments/fields", views.SegmentFieldsView.as_view(), name="segments-fields"),
    path("segments/schema", views.SegmentRuleSchemaView.as_view(), name="segments-rule-schema"),
    path("segments/<str:segment_id>", views.SegmentDetailView.as_view(), name="segments-detail"),
    path(
        "segments/<str:segment_id>/members",
        views.SegmentMembersView.as_view(),
        name="segments-members",
    ),
    path(
        "segments/<str:segment_id>/refresh",
        views.SegmentRefreshView.as_view(),
        name="segments-refresh",
    ),
    path(
        "segments/<str:segment_id>/import",
        views.SegmentImportView.as_view(),
        name="segments-import",
    ),
    path(
        "segments/<str:segment_id>/snapshot",
        views.SegmentSnapshotView.as_view(),
        name="segments-snapshot",
    ),
    path(
        "segments/<str:segment_id>/changes",
        views.SegmentChangesView.as_view(),
        name="segments-changes",
    ),
]
