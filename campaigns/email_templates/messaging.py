"""The Messaging Service's template API (messaging.md, "Templates"), over HTTP with httpx, with
the same base URL and bearer token as the send transport (`MESSAGING_URL`, `MESSAGING_TOKEN`).

- `GET {MESSAGING_URL}/v1/templates?tenantId=<uuid>&channel=email` → `{"data": [{"id", "name",
  "channel", "subject", "variables", "updatedAt"}]}`;
- `POST {MESSAGING_URL}/v1/templates/<id>:render` with `{"tenantId", "variables", "content"}`
  → `{"subject", "html", "text"}` (email) or `{"text"}`; an unknown variable is a `422`
  naming it.

A `404` on the list means the service has no template API yet (`TemplateApiMissing`: the page
falls back to a typed id and says so). A 404 on a render is that template unknown to it, or
again no API; the service's answer body tells which where it can. Network errors and 5xx are
`MessagingUnavailable`, shown as such; nothing here retries (a person is waiting).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
from django.conf import settings

TIMEOUT = httpx.Timeout(10.0, connect=3.0)


class MessagingTemplateError(Exception):
    """The Messaging Service could not answer as asked; `field` names the input at fault."""

    def __init__(self, message: str, *, field: str = "templateId", status: int = 0) -> None:
        super().__init__(message)
        self.field = field
        self.status = status


class TemplateApiMissing(MessagingTemplateError):
    """404: the service has no template API yet."""


class TemplateNotFound(MessagingTemplateError):
    """The service does not know this template id."""


class UnknownVariable(MessagingTemplateError):
    """422: the template names a variable the request did not give (or gives one it lacks)."""


class MessagingUnavailable(MessagingTemplateError):
    """A network error, a timeout, 5xx or an answer we cannot read."""


@dataclass(frozen=True)
class RemoteTemplate:
    id: str
    name: str
    channel: str
    subject: str = ""
    variables: list[str] = field(default_factory=list)
    updated_at: str = ""


def _error_text(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict):
        for name in ("message", "error", "detail"):
            value = body.get(name)
            if isinstance(value, dict):
                value = value.get("message") or value.get("code")
            if isinstance(value, list):
                value = "; ".join(str(v) for v in value)
            if value:
                return str(value)[:300]
    return str(body)[:200]


class MessagingTemplatesClient:
    """One client per use (a request, a send check); `close()` it, or use it as a context."""

    def __init__(
        self, *, base_url: str, token: str = "", client: httpx.Client | None = None
    ) -> None:
        if not base_url:
            raise ValueError("MESSAGING_URL is not set.")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.client = client or httpx.Client(
            base_url=base_url.rstrip("/"), headers=headers, timeout=TIMEOUT
        )

    @classmethod
    def from_settings(cls) -> MessagingTemplatesClient:
        return cls(base_url=settings.MESSAGING_URL, token=settings.MESSAGING_TOKEN)

    def __enter__(self) -> MessagingTemplatesClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.client.close()

    def _call(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self.client.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            raise MessagingUnavailable(
                f"The Messaging Service did not answer ({exc.__class__.__name__}).",
                field="messaging",
            ) from exc
        if response.status_code >= 500 or response.status_code == 429:
            raise MessagingUnavailable(
                f"The Messaging Service answered {response.status_code}: {_error_text(response)}",
                field="messaging",
                status=response.status_code,
            )
        return response

    def list_templates(self, *, tenant_id: str, channel: str) -> list[RemoteTemplate]:
        response = self._call(
            "GET", "/v1/templates", params={"tenantId": tenant_id, "channel": channel}
        )
        if response.status_code == 404:
            raise TemplateApiMissing(
                "The Messaging Service has no template list yet: type the template id.",
                field="messaging",
                status=404,
            )
        if response.status_code >= 400:
            raise MessagingTemplateError(
                f"The Messaging Service refused the list ({response.status_code}): "
                f"{_error_text(response)}",
                field="channel",
                status=response.status_code,
            )
        try:
            items = response.json()["data"]
            return [
                RemoteTemplate(
                    id=str(item["id"]),
                    name=str(item.get("name") or item["id"]),
                    channel=str(item.get("channel") or channel),
                    subject=str(item.get("subject") or ""),
                    variables=[str(v) for v in item.get("variables") or []],
                    updated_at=str(item.get("updatedAt") or ""),
                )
                for item in items
            ]
        except (ValueError, KeyError, TypeError) as exc:
            raise MessagingUnavailable(
                "The Messaging Service's template list could not be read.", field="messaging"
            ) from exc

    def render(
        self,
        *,
        template_id: str,
        tenant_id: str,
        variables: dict[str, Any],
        content: dict[str, Any] | None = None,
    ) -> dict[str, str]:
        response = self._call(
            "POST",
            f"/v1/templates/{quote(template_id, safe='')}:render",
            json={"tenantId": tenant_id, "variables": variables, "content": content or {}},
        )
        if response.status_code == 404:
            raise TemplateNotFound(
                f"The Messaging Service has no template {template_id!r}.", status=404
            )
        if response.status_code == 422:
            raise UnknownVariable(
                f"The template {template_id!r} refused the variables: {_error_text(response)}",
                field="variables",
                status=422,
            )
        if response.status_code >= 400:
            raise MessagingTemplateError(
                f"The Messaging Service refused the preview ({response.status_code}): "
                f"{_error_text(response)}",
                status=response.status_code,
            )
        try:
            body = response.json()
            return {name: str(body[name]) for name in ("subject", "html", "text") if name in body}
        except (ValueError, TypeError) as exc:
            raise MessagingUnavailable(
                "The Messaging Service's preview could not be read.", field="messaging"
            ) from exc
