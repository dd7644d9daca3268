"""Each network's rules for a post, checked before anything is scheduled.

Errors name the network and the reason ("X: the text is 297 of 280 characters …"), keyed by
the field they concern, so the API can answer with a validation error per field.
"""

from __future__ import annotations

from dataclasses import dataclass

from twitter_text import parse_tweet

from social.models import Network


@dataclass(frozen=True)
class NetworkRules:
    label: str
    max_text: int | None  # None: weighted by twitter-text (X)
    max_images: int
    image_types: frozenset[str]
    max_image_bytes: int
    needs_image: bool = False
    needs_content: bool = True


MB = 1024 * 1024
RULES: dict[str, NetworkRules] = {
    # X: 280 weighted characters (twitter-text v3 config: links count 23, CJK and emoji 2),
    # up to 4 images of at most 5 MB.
    Network.X: NetworkRules(
        label="X",
        max_text=None,
        max_images=4,
        image_types=frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"}),
        max_image_bytes=5 * MB,
    ),
    # Facebook Page posts: 63,206 characters; photos up to 10 MB (JPEG, PNG, GIF).
    Network.FACEBOOK: NetworkRules(
        label="Facebook",
        max_text=63_206,
        max_images=10,
        image_types=frozenset({"image/jpeg", "image/png", "image/gif"}),
        max_image_bytes=10 * MB,
    ),
    # Instagram content publishing: an image is required, JPEG only, at most 8 MB, carousels
    # of up to 10; captions up to 2,200 characters.
    Network.INSTAGRAM: NetworkRules(
        label="Instagram",
        max_text=2_200,
        max_images=10,
        image_types=frozenset({"image/jpeg"}),
        max_image_bytes=8 * MB,
        needs_image=True,
    ),
}
# Whatever the network, an upload larger than this is refused at once.
MAX_UPLOAD_BYTES = 10 * MB


def sniff_image_type(content: bytes) -> str | None:
    """The image's real type from its first bytes (what the networks check), not its name."""
    if content.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if content.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if content[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if content[:4] == b"RIFF" and content[8:12] == b"WEBP":
        return "image/webp"
    return None


def text_as_posted(*, network: str, text: str, link: str) -> str:
    """The text each network receives. Facebook has a link field of its own; X and Instagram
    get the link at the end of the text (Instagram does not make it clickable)."""
    text = text.strip()
    if network == Network.FACEBOOK or not link or link in text:
        return text
    return f"{text}\n{link}" if text else link


@dataclass(frozen=True)
class ImageInfo:
    id: str
    filename: str
    content_type: str
    size: int


def variant_errors(
    *, network: str, text: str, link: str, images: list[ImageInfo]
) -> dict[str, list[str]]:
    """{"text": [...], "images": [...]}: empty when the network will take it."""
    rules = RULES[network]
    errors: dict[str, list[str]] = {}
    posted = text_as_posted(network=network, text=text, link=link)
    if rules.needs_content and not posted and not images:
        errors.setdefault("text", []).append(f"{rules.label}: write some text or add an image.")
    if rules.max_text is None:
        parsed = parse_tweet(posted)
        if parsed.weightedLength > 280:
            errors.setdefault("text", []).append(
                f"{rules.label}: the text is {parsed.weightedLength} of 280 characters "
                "(links count as 23, emoji and CJK characters as 2)."
            )
        elif not parsed.valid and posted:
            errors.setdefault("text", []).append(f"{rules.label}: the text has invalid characters.")
    elif len(posted) > rules.max_text:
        errors.setdefault("text", []).append(
            f"{rules.label}: the text is {len(posted)} of {rules.max_text} characters."
        )
    if rules.needs_image and not images:
        errors.setdefault("images", []).append(f"{rules.label}: a post needs at least one image.")
    if len(images) > rules.max_images:
        errors.setdefault("images", []).append(
            f"{rules.label}: at most {rules.max_images} images ({len(images)} given)."
        )
    for image in images:
        if image.content_type not in rules.image_types:
            kinds = ", ".join(sorted(t.removeprefix("image/").upper() for t in rules.image_types))
            errors.setdefault("images", []).append(
                f"{rules.label}: {image.filename} is {image.content_type}; use {kinds}."
            )
        if image.size > rules.max_image_bytes:
            errors.setdefault("images", []).append(
                f"{rules.label}: {image.filename} is {image.size / MB:.1f} MB; the limit is "
                f"{rules.max_image_bytes // MB} MB."
            )
    return errors
