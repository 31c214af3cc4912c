"""The alliance's emails (digest, nudge, reminder): written once as templates, sent as
multipart text + HTML through the outbox (`tribe.infra.outbox`).

Each letter is two templates in `tribe/alliance/templates/`: `NAME.txt` (the text part,
what `tribe digest preview` prints) and `NAME.html`, which extends `letter.html`. Mail
clients drop `<style>` blocks and block images, so the HTML's CSS is inlined
(css-inline) and nothing in it needs an image to be read.

Templates are autoescaped for HTML and not for text: a blog post's title is shown as
its author wrote it in the text part and escaped in the HTML part.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tribe.infra.outbox import Letter

if TYPE_CHECKING:
    import css_inline
    import jinja2

TEMPLATES = Path(__file__).parent / "templates"


@cache
def _environment() -> jinja2.Environment:
    """The templates, loaded by the first letter a process writes: a worker that never
    writes one does not carry jinja2 and css_inline (~4 MB)."""
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


@cache
def _inliner() -> css_inline.CSSInliner:
    import css_inline

    return css_inline.CSSInliner(keep_style_tags=False, load_remote_stylesheets=False)


def render_text(name: str, context: Mapping[str, Any]) -> str:
    """The text part of letter `name`."""
    return _environment().get_template(f"{name}.txt").render(**context)


def render_html(name: str, context: Mapping[str, Any]) -> str:
    """The HTML part of letter `name`, its CSS inlined."""
    return str(_inliner().inline(_environment().get_template(f"{name}.html").render(**context)))


def letter(
    name: str,
    *,
    to: str,
    subject: str,
    context: Mapping[str, Any],
    headers: Mapping[str, str] | None = None,
) -> Letter:
    """Letter `name` to `to`, both parts rendered from `context`."""
    return Letter(
        to=to,
        subject=subject,
        text=render_text(name, context),
        html=render_html(name, context),
        headers=dict(headers or {}),
    )
