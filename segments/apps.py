from django.apps import AppConfig


class SegmentsConfig(AppConfig):
    """Segments (WHO to reach): rules across membership, golf and engagement."""

    name = "segments"
    verbose_name = "Audiences"  # as the club admin's sidebar names it
