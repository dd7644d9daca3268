"""The connect flows behind the admin's "Connect" buttons: start (remember state, and X's PKCE
verifier, in the staff member's session; redirect to the network) and finish (check the state,
exchange the code, store the encrypted tokens).

The redirect URI is the club's admin under its UUID, so a slug rename does not break it:
`{SOCIAL_PUBLIC_BASE_URL}/t/<club uuid>/admin/social/socialaccount/oauth/callback/`; register
it in the Facebook app and the X app.
"""

from __future__ import annotations

import os
import secrets
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError

from crm.tenants.selectors import tenant_current
from social.clients import meta
from social.clients import x as x_client
from social.clients.base import TokenSet
from social.crypto import token_decrypt, token_encrypt
from social.models import Network, SocialAccount
from social.selectors import network_configured, network_states
from social.services import Actor, account_connect

SESSION_KEY = "social_oauth"
PAGES_KEY = "social_oauth_pages"
STATE_MAX_AGE_SECONDS = 15 * 60


def redirect_uri() -> str:
    return (
        f"{settings.SOCIAL_PUBLIC_BASE_URL}/t/{tenant_current().id}"
        "/admin/social/socialaccount/oauth/callback/"
    )


def _allow_http_in_development() -> None:
    # oauthlib refuses http:// callbacks; `dev.py run` serves plain http on 127.0.0.1.
    if settings.DEBUG and settings.SOCIAL_PUBLIC_BASE_URL.startswith("http://"):
        os.environ.setdefault("OAUTHLIB_INSECURE_TRANSPORT", "1")


def oauth_start(*, session: Any, network: str) -> str:
    """The URL to send the staff member to."""
    if network not in Network.values:
        raise ValidationError(f"Unknown network {network!r}.")
    if not network_configured(network=network):
        # Never send the person to the network with an empty client id.
        network_state = next(s for s in network_states() if s.network == network)
        raise ValidationError(network_state.how_to_connect)
    _allow_http_in_development()
    pending = {
        state: entry
        for state, entry in session.get(SESSION_KEY, {}).items()
        if time.time() - entry.get("at", 0) < STATE_MAX_AGE_SECONDS
    }
    if network == Network.X:
        url, state, verifier = x_client.oauth_start(redirect_uri=redirect_uri())
    else:
        state, verifier = secrets.token_urlsafe(24), ""
        url = meta.oauth_start(
            redirect_uri=redirect_uri(), state=state, instagram=network == Network.INSTAGRAM
        )
    # The verifier is a one-time secret for this flow only; the session lives in the club's
    # schema and is gone after the callback.
    pending[state] = {"network": network, "verifier": verifier, "at": time.time()}
    session[SESSION_KEY] = pending
    return url


@dataclass(frozen=True)
class Candidate:
    """A Page (or the Instagram account on it) the staff member may connect."""

    key: str
    network: str
    remote_id: str
    name: str
    username: str
    linked_page_id: str


def oauth_finish(
    *, session: Any, actor: Actor, query: dict[str, str], query_string: str
) -> tuple[SocialAccount | None, list[Candidate]]:
    """Handle the network's redirect back. X connects at once; Facebook/Instagram connect at
    once when the person manages exactly one eligible Page, else return the choices."""
    state = query.get("state", "")
    pending = session.get(SESSION_KEY, {})
    entry = pending.pop(state, None) if state else None
    session[SESSION_KEY] = pending
    if entry is None or time.time() - entry.get("at", 0) > STATE_MAX_AGE_SECONDS:
        raise ValidationError("This connection attempt is unknown or has expired; start again.")
    if query.get("error"):
        raise ValidationError(
            f"The network did not grant access: {query.get('error_description') or query['error']}."
        )
    _allow_http_in_development()
    callback = f"{redirect_uri()}?{query_string}"
    network = entry["network"]
    if network == Network.X:
        tokens, me = x_client.oauth_finish(
            redirect_uri=redirect_uri(),
            authorization_response=callback,
            state=state,
            verifier=entry["verifier"],
        )
        account = account_connect(
            actor=actor,
            network=Network.X,
            remote_id=me["id"],
            name=f"@{me['username']}",
            username=me["username"],
            tokens=tokens,
        )
        return account, []
    pages = meta.oauth_finish(
        redirect_uri=redirect_uri(), authorization_response=callback, state=state
    )
    candidates: list[Candidate] = []
    stored: dict[str, dict[str, str]] = {}
    for page in pages:
        if network == Network.INSTAGRAM:
            instagram = page.get("instagram") or {}
            if not instagram.get("id"):
                continue
            candidate = Candidate(
                key=secrets.token_urlsafe(8),
                network=network,
                remote_id=str(instagram["id"]),
                name=f"@{instagram.get('username') or instagram['id']}",
                username=instagram.get("username") or "",
                linked_page_id=page["id"],
            )
        else:
            candidate = Candidate(
                key=secrets.token_urlsafe(8),
                network=network,
                remote_id=page["id"],
                name=page["name"],
                username="",
                linked_page_id="",
            )
        candidates.append(candidate)
        stored[candidate.key] = {**candidate.__dict__, "token": token_encrypt(page["access_token"])}
    if not candidates:
        what = "Instagram Business account linked to a Page" if network == "instagram" else "Page"
        raise ValidationError(f"The Facebook login manages no {what}.")
    if len(candidates) == 1:
        return _connect_candidate(actor, stored[candidates[0].key]), []
    session[PAGES_KEY] = {"at": time.time(), "choices": stored}
    return None, candidates


def oauth_choose(*, session: Any, actor: Actor, key: str) -> SocialAccount:
    pending = session.pop(PAGES_KEY, None) or {}
    choice = (pending.get("choices") or {}).get(key)
    if choice is None or time.time() - pending.get("at", 0) > STATE_MAX_AGE_SECONDS:
        raise ValidationError("This choice has expired; connect again.")
    return _connect_candidate(actor, choice)


def _connect_candidate(actor: Actor, choice: dict[str, str]) -> SocialAccount:
    return account_connect(
        actor=actor,
        network=choice["network"],
        remote_id=choice["remote_id"],
        name=choice["name"],
        username=choice["username"],
        linked_page_id=choice["linked_page_id"],
        tokens=TokenSet(access_token=token_decrypt(choice["token"])),
    )
