"""Per-key rate limits (api.md): reads 1,000/min, writes 100/min, and per-view scopes such as
campaign sends and event ingestion.

A sliding window (the weighted two-window estimate): an atomic Redis INCR counts this window,
and the previous window's count weighs in by the share of it still inside the last period. A
fixed window alone let a key make twice its limit across a boundary (the end of one minute and
the start of the next); this cannot. O(1) per request and exact across any number of web
processes, where DRF's stock throttle rewrites a list of timestamps per caller and undercounts
under concurrency. Keys are tenant-scoped by the cache's KEY_FUNCTION.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from django.core.cache import cache
from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

from crm.api.authentication import ServicePrincipal

if TYPE_CHECKING:  # DRF's views read the settings that name this module
    from rest_framework.views import APIView

_PERIODS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hour": 3600, "d": 86400, "day": 86400}


def parse_rate(rate: str) -> tuple[int, int]:
    count, _, period = rate.partition("/")
    return int(count), _PERIODS[period.strip().lower()]


class CallerRateThrottle(BaseThrottle):
    def __init__(self) -> None:
        self._wait = 0.0

    @staticmethod
    def scope_for(request: Request, view: APIView) -> str:
        explicit = getattr(view, "throttle_scope", None)
        if explicit:
            return str(explicit)
        return "read" if request.method in ("GET", "HEAD", "OPTIONS") else "write"

    def caller_ident(self, request: Request) -> str:
        user = getattr(request, "user", None)
        if isinstance(user, ServicePrincipal):
            return f"key:{user.api_key.pk}" if user.api_key else user.label
        if user is not None and getattr(user, "is_authenticated", False):
            return f"user:{user.pk}"
        return f"ip:{self.get_ident(request)}"

    def allow_request(self, request: Request, view: APIView) -> bool:
        scope = self.scope_for(request, view)
        rate = api_settings.DEFAULT_THROTTLE_RATES.get(scope)
        if not rate:
            return True
        limit, period = parse_rate(str(rate))
        now = time.time()
        window = int(now // period)
        prefix = f"throttle:{scope}:{self.caller_ident(request)}"
        key = f"{prefix}:{window}"
        cache.add(key, 0, timeout=2 * period + 1)  # kept through the next window, which weighs it
        try:
            count = cache.incr(key)
        except ValueError:  # expired between add and incr: start the window again
            cache.set(key, 1, timeout=2 * period + 1)
            count = 1
        previous = cache.get(f"{prefix}:{window - 1}") or 0
        elapsed = (now - window * period) / period
        if count + previous * (1 - elapsed) > limit:
            cache.decr(key)  # a refused request does not count against the caller
            if count > limit or not previous:
                self._wait = (window + 1) * period - now
            else:  # until enough of the previous window has slid out for one more request
                self._wait = max(0.0, (1 - (limit - count) / previous - elapsed) * period)
            return False
        return True

    def wait(self) -> float:
        return max(1.0, self._wait)
