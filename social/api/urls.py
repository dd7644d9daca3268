from django.urls import path

from social.api import views

urlpatterns = [
    path("social/accounts", views.AccountListView.as_view(), name="social-accounts-list"),
    path(
        "social/accounts/<uuid:account_id>",
        views.AccountDetailView.as_view(),
        name="social-accounts-detail",
    ),
    path("social/images", views.ImageUploadView.as_view(), name="social-images"),
    path("social/media/<str:token>", views.MediaView.as_view(), name="social-media"),
    path("social/posts", views.PostListView.as_view(), name="social-posts-list"),
    path("social/posts/<uuid:post_id>", views.PostDetailView.as_view(), name="social-posts-detail"),
    path(
        "social/posts/<uuid:post_id>/schedule",
        views.PostScheduleView.as_view(),
        name="social-posts-schedule",
    ),
    path(
        "social/posts/<uuid:post_id>/approve",
        views.PostApproveView.as_view(),
        name="social-posts-approve",
    ),
    path(
        "social/posts/<uuid:post_id>/reject",
        views.PostRejectView.as_view(),
        name="social-posts-reject",
    ),
    path(
        "social/posts/<uuid:post_id>/request-approval",
        views.PostRequestApprovalView.as_view(),
        name="social-posts-request-approval",
    ),
    path(
        "social/posts/<uuid:post_id>/reschedule",
        views.PostRescheduleView.as_view(),
        name="social-posts-reschedule",
    ),
    path("social/networks", views.NetworkListView.as_view(), name="social-networks"),
    path("social/calendar", views.CalendarView.as_view(), name="social-calendar"),
    path(
        "social/posts/<uuid:post_id>/cancel",
        views.PostCancelView.as_view(),
        name="social-posts-cancel",
    ),
    path("social/promotions", views.PromotionListView.as_view(), name="social-promotions-list"),
    path(
        "social/promotions/<uuid:promotion_id>",
        views.PromotionDetailView.as_view(),
        name="social-promotions-detail",
    ),
    path(
        "social/promotions/<uuid:promotion_id>/stop",
        views.PromotionStopView.as_view(),
        name="social-promotions-stop",
    ),
    path(
        "social/promotions/<uuid:promotion_id>/items/<uuid:item_id>",
        views.PromotionItemDetailView.as_view(),
        name="social-promotion-items-detail",
    ),
    path(
        "social/promotions/<uuid:promotion_id>/items/<uuid:item_id>/cancel",
        views.PromotionItemCancelView.as_view(),
        name="social-promotion-items-cancel",
    ),
    path(
        "social/promotion-settings",
        views.PromotionSettingsView.as_view(),
        name="social-promotion-settings",
    ),
]
