"""The built-in fallback (messaging.md, "for a club with no Messaging Service"): email through
Django's own email framework (`EMAIL_BACKEND`), rendered from templates the CRM keeps itself.

- A `templateId` naming one of the club's own email templates (campaigns.email_templates:
  blocks made into MJML and rendered by MRML, the club's branding in header and footer) is
  rendered from it, `content.subject` overriding its subject.
- Otherwise the template is `campaigns/email/<templateId>.html` (and `.txt` beside it) when
  the club's project ships one, else `campaigns/email/default.*`, which shows
  `content.body`. Variables and `content` fill both; `content.subject` is the subject
  (variables allowed in it too).
- Every message carries RFC 8058 one-click unsubscribe: `List-Unsubscribe: <url>` and
  `List-Unsubscribe-Post: List-Unsubscribe=One-Click`, the URL being the send's own under the
  club (campaigns.unsubscribe), which the CRM honours at once. Its `Message-ID` is built from the
  idempotency key, so a rare resend after a crash is recognisable as the same message.
- SMS and push have no fallback: those sends fail with NO_TRANSPORT.
- SMTP refusing a recipient is permanent; a connection or server error is tried again later.
"""

from __future__ import annotations

import re
import smtplib
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.template import Context, Template, TemplateDoesNotExist
from django.template.loader import get_template

from campaigns.delivery.base import DeliveryResult

_SAFE_TEMPLATE = re.compile(r"^[A-Za-z0-9_-]{1,100}$")


def _templates(template_id: str):
    name = template_id if _SAFE_TEMPLATE.match(template_id or "") else "default"
    try:
        return get_template(f"campaigns/email/{name}.html"), get_template(
            f"campaigns/email/{name}.txt"
        )
    except TemplateDoesNotExist:
        return get_template("campaigns/email/default.html"), get_template(
            "campaigns/email/default.txt"
        )


def render_email(
    request: dict[str, Any], club_templates: dict[str, Any] | None = None, brand=None
) -> tuple[str, str, str]:
    """(subject, text, html) of a send request, as the fallback sends it. `club_templates`
    (by key) and `brand`: read once for a batch; looked up here when not given."""
    from campaigns.email_templates.selectors import club_template_get, club_template_render

    variables = request.get("variables") or {}
    content = request.get("content") or {}
    metadata = request.get("metadata") or {}
    template_id = request.get("templateId", "")
    club = (
        club_templates.get(template_id)
        if club_templates is not None
        else club_template_get(key=template_id)
    )
    if club is not None:
        rendered = club_template_render(
            club,
            values=variables,
            unsubscribe_url=metadata.get("listUnsubscribe") or "",
            subject=str(content.get("subject") or ""),
            brand=brand,
        )
        return rendered.subject, rendered.text, rendered.html
    context = {
        **variables,
        "content": content,
        "unsubscribe_url": metadata.get("listUnsubscribe") or "",
    }
    body = Template(str(content.get("body") or "")).render(Context(variables))
    context["body"] = body
    html, text = _templates(request.get("templateId", ""))
    subject_source = str(content.get("subject") or "News from {{ clubName }}")
    subject = Template(subject_source).render(Context(variables, autoescape=False))
    subject = " ".join(subject.split())[:250]
    return subject, text.render(context), html.render(context)


def build_message(
    request: dict[str, Any], connection=None, club_templates=None, brand=None
) -> EmailMultiAlternatives:
    subject, text, html = render_email(request, club_templates, brand)
    to = request["to"]
    address = f'"{to["name"]}" <{to["email"]}>' if to.get("name") else to["email"]
    headers = {"Message-ID": f"<{request['idempotencyKey']}@crm.campaigns>"}
    unsubscribe = (request.get("metadata") or {}).get("listUnsubscribe")
    if unsubscribe:
        headers["List-Unsubscribe"] = f"<{unsubscribe}>"
        headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message = EmailMultiAlternatives(
        subject=subject,
        body=text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[address],
        headers=headers,
        connection=connection,
    )
    message.attach_alternative(html, "text/html")
    return message


class EmailAdapter:
    name = "email"
    records_events = True
    batch_size = 200
    _club_templates: dict[str, Any] | None = None
    _brand = None

    def __init__(self, *, backend: str | None = None) -> None:
        # None: settings.EMAIL_BACKEND. The demo club passes Django's dummy backend: its
        # addresses are made up, and a demo must never mail real domains.
        self.backend = backend

    def close(self) -> None:
        pass

    def deliver(self, requests: list[dict[str, Any]]) -> list[DeliveryResult]:
        results: dict[str, DeliveryResult] = {}
        emails = []
        for request in requests:
            key = request["idempotencyKey"]
            if request.get("channel") != "email":
                results[key] = DeliveryResult.failed(
                    key,
                    f"No Messaging Service is configured for {request.get('channel')}: "
                    "only email has a built-in fallback.",
                    reason="NO_TRANSPORT",
                )
            else:
                emails.append(request)
        if emails:
            from campaigns.email_templates.selectors import brand_current, club_templates_by_key

            self._club_templates = club_templates_by_key({r.get("templateId", "") for r in emails})
            self._brand = brand_current() if self._club_templates else None
            try:
                with get_connection(self.backend) as connection:
                    for request in emails:
                        results[request["idempotencyKey"]] = self._send(request, connection)
            except (smtplib.SMTPException, OSError) as exc:
                for request in emails:
                    results.setdefault(
                        request["idempotencyKey"],
                        DeliveryResult.retry(request["idempotencyKey"], f"smtp: {exc!r}"),
                    )
        return [results[request["idempotencyKey"]] for request in requests]

    def _send(self, request: dict[str, Any], connection) -> DeliveryResult:
        from campaigns.email_templates.rendering import TemplateRenderError

        key = request["idempotencyKey"]
        try:
            message = build_message(request, connection, self._club_templates, self._brand)
        except TemplateRenderError as exc:
            return DeliveryResult.failed(key, f"template: {exc}")
        try:
            message.send()
        except (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused) as exc:
            return DeliveryResult.failed(key, f"smtp refused: {exc!r}")
        except smtplib.SMTPDataError as exc:
            if 500 <= exc.smtp_code < 600:
                return DeliveryResult.failed(key, f"smtp refused: {exc!r}")
            return DeliveryResult.retry(key, f"smtp: {exc!r}")
        return DeliveryResult.accepted(key, message_id=message.extra_headers["Message-ID"])
