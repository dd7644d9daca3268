"""A club email template's blocks: what each block holds, how they are checked, and the MJML
and plain text they become. Pure: no database, no request (the branding is handed in).

A template is a list of blocks, each `{"type": …, <its fields>}`:

- `header`: the club's logo (or its name) on its main colour, with an optional tagline;
- `text`: an optional heading and paragraphs (a blank line starts a new one);
- `image`: a picture by its https address, with the words a reader without images sees;
- `button`: a label and the address it opens, in the club's accent colour;
- `competition`: a card with a competition's name, date, details and an entry button;
- `footer`: an optional note, the club's name and address, and the unsubscribe link (always:
  every marketing email needs one, so every template ends with a footer).

Text fields may hold variables picked from `variables.VARIABLES` (`{{ firstName }}`); an
unknown one is an error naming the block and field (`blocks[2].text`). Addresses hold none.
Everything the author writes is HTML-escaped into the MJML.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from campaigns.email_templates.variables import UNSUBSCRIBE, unknown_message, unknown_variables

MAX_BLOCKS = 40
TEXT, MULTILINE, URL = "text", "multiline", "url"


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    kind: str
    required: bool = False
    max_length: int = 200


@dataclass(frozen=True)
class BlockType:
    type: str
    label: str
    fields: tuple[Field, ...]


BLOCK_TYPES: dict[str, BlockType] = {
    b.type: b
    for b in (
        BlockType("header", "Header: logo and colours", (Field("tagline", "Tagline", TEXT),)),
        BlockType(
            "text",
            "Text",
            (
                Field("heading", "Heading", TEXT),
                Field("text", "Text", MULTILINE, required=True, max_length=5000),
            ),
        ),
        BlockType(
            "image",
            "Image",
            (
                Field("src", "Picture address (https://…)", URL, required=True, max_length=1000),
                Field("alt", "Description (shown when pictures are off)", TEXT, required=True),
                Field("link", "Opens (optional)", URL, max_length=1000),
            ),
        ),
        BlockType(
            "button",
            "Button",
            (
                Field("label", "Label", TEXT, required=True, max_length=60),
                Field("url", "Opens", URL, required=True, max_length=1000),
            ),
        ),
        BlockType(
            "competition",
            "Competition card",
            (
                Field("name", "Competition", TEXT, required=True),
                Field("date", "When", TEXT),
                Field("details", "Details", MULTILINE, max_length=2000),
                Field("url", "Entry page", URL, max_length=1000),
                Field("buttonLabel", "Button label", TEXT, max_length=60),
            ),
        ),
        BlockType(
            "footer",
            "Footer: address and unsubscribe",
            (Field("note", "Note", MULTILINE, max_length=1000),),
        ),
    )
}


@dataclass(frozen=True)
class Brand:
    """What the header and footer show: from the club's branding settings."""

    club_name: str
    logo_url: str = ""
    primary_colour: str = "#1f5130"
    accent_colour: str = "#c8102e"
    address: str = ""
    website: str = ""


def _url_problem(value: str) -> str | None:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return "Give a full web address starting with https://."
    if any(ch.isspace() for ch in value) or "{{" in value:
        return "A web address holds no spaces or variables."
    return None


def blocks_errors(blocks: Any, *, path: str = "blocks") -> dict[str, list[str]]:
    """Every problem of a block list, by field path (`blocks[2].text`); empty when fine."""
    if not isinstance(blocks, list):
        return {path: ["Give a list of blocks."]}
    errors: dict[str, list[str]] = {}
    if not blocks:
        errors[path] = ["Add at least one block."]
    if len(blocks) > MAX_BLOCKS:
        errors[path] = [f"At most {MAX_BLOCKS} blocks."]
    for index, block in enumerate(blocks):
        where = f"{path}[{index}]"
        if not isinstance(block, dict):
            errors[where] = ["Give an object."]
            continue
        kind = BLOCK_TYPES.get(block.get("type"))  # type: ignore[arg-type]
        if kind is None:
            names = ", ".join(BLOCK_TYPES)
            errors[f"{where}.type"] = [f"Not a block type: use one of {names}."]
            continue
        known = {field.name for field in kind.fields} | {"type"}
        for extra in sorted(set(block) - known):
            errors[f"{where}.{extra}"] = [f"A {kind.label.lower()} block has no {extra}."]
        for field in kind.fields:
            value = block.get(field.name, "")
            at = f"{where}.{field.name}"
            if not isinstance(value, str):
                errors[at] = ["Give text."]
                continue
            value = value.strip()
            if not value:
                if field.required:
                    errors[at] = [f"{kind.label}: {field.label.lower()} is required."]
                continue
            if len(value) > field.max_length:
                errors[at] = [f"At most {field.max_length} characters."]
            elif field.kind == URL:
                if problem := _url_problem(value):
                    errors[at] = [problem]
            elif unknown := unknown_variables(value):
                errors[at] = [unknown_message(unknown)]
    types = [b.get("type") for b in blocks if isinstance(b, dict)]
    if blocks and types.count("footer") != 1:
        errors.setdefault(path, []).append(
            "An email needs exactly one footer: it carries the unsubscribe link."
        )
    elif blocks and types[-1] != "footer":
        errors.setdefault(path, []).append("The footer goes last.")
    if types.count("header") > 1:
        errors.setdefault(path, []).append("One header is enough.")
    return errors


def describe_path(path: str, blocks: Any) -> str:
    """`blocks[2].text` as a person reads it: "block 3 (Text), text"; the path itself when it
    names no block."""
    match = re.match(r"^blocks\[(\d+)\](?:\.(\w+))?$", path)
    if not match:
        return path
    index = int(match.group(1))
    try:
        kind = BLOCK_TYPES[blocks[index]["type"]]
    except (KeyError, IndexError, TypeError):
        return f"block {index + 1}"
    where = f"block {index + 1} ({kind.label})"
    field = next((f for f in kind.fields if f.name == match.group(2)), None)
    return f"{where}, {field.label.lower()}" if field else where


def clean_blocks(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The blocks as stored: known fields only, trimmed, empty optional fields left out."""
    out = []
    for block in blocks:
        kind = BLOCK_TYPES[block["type"]]
        clean: dict[str, Any] = {"type": kind.type}
        for field in kind.fields:
            value = str(block.get(field.name) or "").strip()
            if value:
                clean[field.name] = value
        out.append(clean)
    return out


# --- MJML ----------------------------------------------------------------------------------------

_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")


def _e(value: str) -> str:
    return html.escape(value or "", quote=True)


def _paragraphs(value: str) -> str:
    parts = [p.strip() for p in re.split(r"\n\s*\n", value or "") if p.strip()]
    return "".join(f"<p>{'<br>'.join(_e(line) for line in p.splitlines())}</p>" for p in parts)


def _colour(value: str, default: str) -> str:
    return value if _COLOUR.match(value or "") else default


def _on(colour: str) -> str:
    """Black or white text, whichever reads better on the colour."""
    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return "#1a1a1a" if (0.299 * r + 0.587 * g + 0.114 * b) > 160 else "#ffffff"


def _section(inner: str, *, background: str = "#ffffff", padding: str = "8px 0") -> str:
    return (
        f'<mj-section background-color="{background}" padding="{padding}">'
        f"<mj-column>{inner}</mj-column></mj-section>"
    )


def _block_mjml(block: dict[str, Any], brand: Brand, primary: str, accent: str) -> str:
    kind = block["type"]
    if kind == "header":
        if brand.logo_url:
            top = (
                f'<mj-image src="{_e(brand.logo_url)}" alt="{_e(brand.club_name)}" '
                f'width="180px" padding="8px 25px" />'
            )
        else:
            top = (
                f'<mj-text align="center" color="{_on(primary)}" font-size="26px" '
                f'font-weight="700">{_e(brand.club_name)}</mj-text>'
            )
        if block.get("tagline"):
            top += (
                f'<mj-text align="center" color="{_on(primary)}" font-size="15px" '
                f'padding-top="0">{_e(block["tagline"])}</mj-text>'
            )
        return _section(top, background=primary, padding="18px 0")
    if kind == "text":
        heading = (
            f'<h2 style="margin:0 0 8px;font-size:22px;color:{primary}">{_e(block["heading"])}</h2>'
            if block.get("heading")
            else ""
        )
        return _section(f"<mj-text>{heading}{_paragraphs(block.get('text', ''))}</mj-text>")
    if kind == "image":
        link = f' href="{_e(block["link"])}"' if block.get("link") else ""
        return _section(
            f'<mj-image src="{_e(block.get("src", ""))}" alt="{_e(block.get("alt", ""))}"{link} />'
        )
    if kind == "button":
        return _section(
            f'<mj-button href="{_e(block.get("url", ""))}">{_e(block.get("label", ""))}</mj-button>'
        )
    if kind == "competition":
        date = (
            f'<p style="margin:0 0 8px;font-weight:700;color:{primary}">{_e(block["date"])}</p>'
            if block.get("date")
            else ""
        )
        inner = (
            f'<mj-text><p style="margin:0 0 4px;font-size:12px;letter-spacing:1px;'
            f'text-transform:uppercase;color:#5b6b62">Competition</p>'
            f'<h2 style="margin:0 0 6px;font-size:22px;color:#1a1a1a">{_e(block.get("name", ""))}'
            f"</h2>{date}{_paragraphs(block.get('details', ''))}</mj-text>"
        )
        if block.get("url"):
            label = block.get("buttonLabel") or "Enter now"
            inner += f'<mj-button href="{_e(block["url"])}">{_e(label)}</mj-button>'
        return (
            '<mj-section background-color="#ffffff" padding="8px 20px">'
            f'<mj-column border="2px solid {primary}" border-radius="8px" '
            f'background-color="#f6f8f7" padding="8px 0">{inner}</mj-column></mj-section>'
        )
    if kind == "footer":
        note = _paragraphs(block.get("note", ""))
        address = "<br>".join(_e(line) for line in (brand.address or "").splitlines() if line)
        website = (
            f'<br><a href="{_e(brand.website)}" style="color:#555555">{_e(brand.website)}</a>'
            if brand.website
            else ""
        )
        return _section(
            f'<mj-text align="center" font-size="12px" line-height="1.6" color="#555555">'
            f"{note}<p><strong>{_e(brand.club_name)}</strong>"
            f"{'<br>' + address if address else ''}{website}</p>"
            f"<p>You receive this because you are on {_e(brand.club_name)}'s list. "
            f'<a href="{{{{ {UNSUBSCRIBE} }}}}" style="color:#555555">Unsubscribe</a></p>'
            f"</mj-text>",
            background="#eef1ef",
            padding="16px 0",
        )
    return ""


def blocks_to_mjml(
    blocks: list[dict[str, Any]], brand: Brand, *, subject: str = "", preheader: str = ""
) -> str:
    """The MJML document of a template (variables left as `{{ name }}` for the render)."""
    primary = _colour(brand.primary_colour, "#1f5130")
    accent = _colour(brand.accent_colour, "#c8102e")
    body = "".join(_block_mjml(block, brand, primary, accent) for block in blocks)
    preview = f"<mj-preview>{_e(preheader)}</mj-preview>" if preheader else ""
    return (
        "<mjml><mj-head>"
        f"<mj-title>{_e(subject)}</mj-title>{preview}"
        "<mj-attributes>"
        '<mj-all font-family="Helvetica, Arial, sans-serif" />'
        '<mj-text font-size="16px" line-height="1.5" color="#222222" padding="8px 25px" />'
        f'<mj-button background-color="{accent}" color="{_on(accent)}" font-size="16px" '
        'font-weight="700" border-radius="6px" inner-padding="12px 28px" />'
        "</mj-attributes></mj-head>"
        f'<mj-body background-color="#e9edeb" width="600px">{body}</mj-body></mjml>'
    )


def blocks_to_text(blocks: list[dict[str, Any]], brand: Brand) -> str:
    """The plain-text alternative of the same email."""
    parts: list[str] = []
    for block in blocks:
        kind = block["type"]
        if kind == "header":
            parts.append(
                brand.club_name + (f"\n{block['tagline']}" if block.get("tagline") else "")
            )
        elif kind == "text":
            parts.append(
                "\n\n".join(p for p in (block.get("heading", ""), block.get("text", "")) if p)
            )
        elif kind == "image" and block.get("link"):
            parts.append(f"{block.get('alt', '')}: {block['link']}")
        elif kind == "button":
            parts.append(f"{block.get('label', '')}: {block.get('url', '')}")
        elif kind == "competition":
            lines = [block.get("name", ""), block.get("date", ""), block.get("details", "")]
            if block.get("url"):
                lines.append(f"{block.get('buttonLabel') or 'Enter now'}: {block['url']}")
            parts.append("\n".join(line for line in lines if line))
        elif kind == "footer":
            lines = [block.get("note", ""), brand.club_name, brand.address, brand.website]
            lines.append("Unsubscribe: {{ %s }}" % UNSUBSCRIBE)  # noqa: UP031 (braces)
            parts.append("--\n" + "\n".join(line for line in lines if line))
    return "\n\n".join(part for part in parts if part.strip()) + "\n"
