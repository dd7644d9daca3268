from django.urls import path

from campaigns.api import tee_sheet, templates, views

urlpatterns = [
    path("campaigns", views.CampaignListView.as_view(), name="campaigns-list"),
    path(
        "campaigns/<str:campaign_id>", views.CampaignDetailView.as_view(), name="campaigns-detail"
    ),
    path(
        "campaigns/<str:campaign_id>/schedule",
        views.CampaignScheduleView.as_view(),
        name="campaigns-schedule",
    ),
    path(
        "campaigns/<str:campaign_id>/send", views.CampaignSendView.as_view(), name="campaigns-send"
    ),
    path(
        "campaigns/<str:campaign_id>/pause",
        views.CampaignPauseView.as_view(),
        name="campaigns-pause",
    ),
    path(
        "campaigns/<str:campaign_id>/resume",
        views.CampaignResumeView.as_view(),
        name="campaigns-resume",
    ),
    path(
        "campaigns/<str:campaign_id>/cancel",
        views.CampaignCancelView.as_view(),
        name="campaigns-cancel",
    ),
    path(
        "campaigns/<str:campaign_id>/stats",
        views.CampaignStatsView.as_view(),
        name="campaigns-stats",
    ),
    path(
        "campaigns/<str:campaign_id>/results",
        views.CampaignResultsView.as_view(),
        name="campaigns-results",
    ),
    path(
        "campaigns/<str:campaign_id>/preview",
        views.CampaignPreviewView.as_view(),
        name="campaigns-preview",
    ),
    path(
        "campaigns/<str:campaign_id>/review",
        views.CampaignReviewView.as_view(),
        name="campaigns-review",
    ),
    path(
        "campaigns/<str:campaign_id>/test-send",
        views.CampaignTestSendView.as_view(),
        name="campaigns-test-send",
    ),
    path("templates", templates.TemplateListView.as_view(), name="templates-list"),
    path(
        "templates/<str:template_id>/preview",
        templates.TemplatePreviewView.as_view(),
        name="templates-preview",
    ),
    path("tee-sheet/settings", tee_sheet.TeeSheetSettingsView.as_view(), name="tee-sheet-settings"),
    path("tee-sheet/slots", tee_sheet.TeeSlotListView.as_view(), name="tee-sheet-slots"),
    path("tee-sheet/gaps", tee_sheet.TeeGapListView.as_view(), name="tee-sheet-gaps"),
    path("tee-sheet/gaps/<str:gap_id>", tee_sheet.TeeGapDetailView.as_view(), name="tee-sheet-gap"),
    path("tee-sheet/summary", tee_sheet.TeeSheetSummaryView.as_view(), name="tee-sheet-summary"),
]
