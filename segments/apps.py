from django.apps import AppConfig


class SegmentsConfig(AppConfig):
    """Segments (WHO to reach): rules across membership, golf and engagement."""

    name = "segments"
    verbose_name = "Audiences"  # as the club admin's sidebar names it

    def ready(self) -> None:
        from profiles.erasure import erasure_hook_register, export_hook_register
        from segments.privacy import (
            EXPORT_MODELS,
            segments_customer_erase,
            segments_customer_export,
        )

        erasure_hook_register(segments_customer_erase)
        export_hook_register("segments", segments_customer_export, models=EXPORT_MODELS)

        # Beat's every-minute tasks are queued only in clubs where these say work is due.
        from segments.periodic import register as periodic_register

        periodic_register()
