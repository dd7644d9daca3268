"""`manage.py score_customers <tenant slug or UUID> [--train]`: recompute every customer's
scores now (what beat does nightly), after training a new churn model first with `--train`
(what beat does weekly). Prints what happened."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand
from django_tenants.utils import tenant_context

from crm.tenants.cli import resolve_tenant
from profiles.scoring_services import churn_model_train, scores_recompute


class Command(BaseCommand):
    help = "Recompute a club's customer scores now (and train its churn model with --train)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("tenant", help="The club's slug (or a former one) or UUID")
        parser.add_argument(
            "--train", action="store_true", help="Train a new churn model version first"
        )

    def handle(self, *args, **options) -> None:
        tenant = resolve_tenant(options["tenant"])
        with tenant_context(tenant):
            if options["train"]:
                started = time.monotonic()
                model = churn_model_train(actor_label="manage.py score_customers")
                quality = (
                    f"ROC AUC {model.roc_auc:.3f}, precision in the top decile "
                    f"{model.precision_top_decile:.1%} (base rate {model.base_rate:.1%})"
                    if model.roc_auc is not None
                    else "not judged"
                )
                self.stdout.write(
                    f"Churn model v{model.version}: {model.status} ({quality}) in "
                    f"{time.monotonic() - started:.1f} s. {model.notes}"
                )
            started = time.monotonic()
            result = scores_recompute()
            self.stdout.write(
                f"{tenant.name} ({tenant.slug}): {result['scored']} customers scored, "
                f"{result['risen']} rose above the churn alert threshold, in "
                f"{time.monotonic() - started:.1f} s"
            )
