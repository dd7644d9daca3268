"""MJML to email HTML with MRML (the `mjml-python` package, Rust bindings of MRML, a port of
MJML), then the variables filled in.

MJML's output already carries its styles inline on every element (what email clients need);
the one `<style>` left holds the media queries that make columns stack on a phone. MJML
fetches no web fonts here: `fonts={}` keeps MRML from adding its default Google Fonts links
(the preview and the email load nothing from outside).

Variables (`{{ firstName }}`) pass through MRML untouched and are filled in afterwards, each
value HTML-escaped, so one compile serves every recipient (`compile_mjml` is cached by its
text). A variable with no value given is an error naming it, never an empty hole.
"""

from __future__ import annotations

import functools
import html
from typing import Any

import mjml

from campaigns.email_templates.variables import TOKEN


class TemplateRenderError(ValueError):
    """The template could not be rendered; `field` says where (`blocks[2].text`, `variables`)."""

    def __init__(self, message: str, field: str = "template") -> None:
        super().__init__(message)
        self.field = field


@functools.lru_cache(maxsize=64)
def compile_mjml(source: str) -> str:
    try:
        return mjml.mjml2html(source, disable_comments=True, fonts={})
    except Exception as exc:  # MRML raises its own error types for malformed MJML
        raise TemplateRenderError(f"The MJML could not be rendered: {exc}", "mjml") from exc


def fill(text: str, values: dict[str, Any], *, escape: bool) -> str:
    """Put the values in for `{{ name }}`; a name with no value raises TemplateRenderError."""
    missing: list[str] = []

    def one(match) -> str:
        name = match.group(1)
        if name not in values:
            missing.append(name)
            return ""
        value = "" if values[name] is None else str(values[name])
        return html.escape(value, quote=True) if escape else value

    out = TOKEN.sub(one, text)
    if missing:
        listed = ", ".join(sorted(set(missing)))
        raise TemplateRenderError(f"No value for the variable(s) {listed}.", "variables")
    return out


def render_html(mjml_source: str, values: dict[str, Any]) -> str:
    return fill(compile_mjml(mjml_source), values, escape=True)
