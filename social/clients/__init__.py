"""One adapter per network, all with the same methods: publish, find_published, metrics,
check. The publishing code never imports a network library itself."""

from __future__ import annotations

from typing import Protocol

from social.clients.base import ImageRef, Metrics, Published
from social.clients.meta import FacebookAdapter, InstagramAdapter
from social.clients.x import XAdapter


class Adapter(Protocol):
    network: str

    def publish(self, *, text: str, link: str, images: list[ImageRef]) -> Published: ...

    def find_published(self, *, text: str, since) -> Published | None: ...

    def metrics(self, *, remote_id: str) -> Metrics: ...

    def check(self) -> None: ...


def adapter_for(*, network: str, access_token: str, remote_id: str, username: str = "") -> Adapter:
    if network == "x":
        return XAdapter(access_token=access_token, account_id=remote_id, username=username)
    if network == "facebook":
        return FacebookAdapter(access_token=access_token, page_id=remote_id)
    if network == "instagram":
        return InstagramAdapter(access_token=access_token, ig_user_id=remote_id)
    raise ValueError(f"Unknown network {network!r}")
