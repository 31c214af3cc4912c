"""The text of a reshare: a member's template, a clean title, and a fit to each network.

Pure functions, no I/O. What Triberr got wrong and we do not: titles in ALL CAPS are
not shouted, a text that starts with "@" does not turn into a reply, and a link is
never cut — when the text is too long, the title is shortened with an ellipsis, and
a member's own text that does not fit is refused with its counted length.
"""

from __future__ import annotations

import html
import re
import warnings
from dataclasses import dataclass
from functools import cache
from importlib import import_module
from string import Formatter
from types import ModuleType
from typing import Any, cast

import regex

from tribe.core.errors import InvalidInputError
from tribe.core.kinds import Network


@cache
def _twitter_text() -> ModuleType:
    """twitter-text, loaded when X's weighting is first needed: it costs a process
    ~11 MB and 0.2 s (its emoji tables, and pkg_resources), which a worker that only
    polls feeds never needs."""
    with warnings.catch_warnings():
        # twitter-text-parser 3.0 (its last release) loads its data with pkg_resources,
        # which setuptools deprecates loudly; pyproject.toml keeps a setuptools with it.
        warnings.filterwarnings("ignore", "pkg_resources is deprecated", UserWarning)
        return import_module("twitter_text")


def extract_urls_with_indices(text: str) -> list[dict[str, Any]]:
    """The links of `text` as X finds them (`url`, `indices`): for tribe/networks/x."""
    return cast(list[dict[str, Any]], _twitter_text().extract_urls_with_indices(text))


ELLIPSIS = "\u2026"
_SPACE = re.compile(r"\s+")
_URL = re.compile(r"https?://\S+")
_WORD = re.compile(r"[^\W_]+(?:['\u2019][^\W_]+)*")
PLACEHOLDERS = frozenset({"title", "url", "author", "tags"})


DEFAULT_TEMPLATES = {
    Network.X: "{title} {url} via {author}",
    Network.MASTODON: "{title}\n\n{url}\n\nvia {author} {tags}",
    Network.BLUESKY: "{title} {url} via {author}",
    Network.LINKEDIN: "{title}\n\n{url}\n\nvia {author}",
    Network.FACEBOOK: "{title}\n\n{url}\n\nvia {author}",
    Network.THREADS: "{title} {url} via {author}",
}


@dataclass(frozen=True)
class Limit:
    """How a network counts: a maximum, and what one link costs (None: its length)."""

    network: Network
    maximum: int
    url_cost: int | None = 23

    def measure(self, text: str) -> int:
        if self.network == Network.X:
            # X's own weighting: most CJK counts double, every URL counts 23.
            return int(_twitter_text().parse_tweet(text).weightedLength)
        if self.network == Network.BLUESKY:
            return len(regex.findall(r"\X", text))  # graphemes, links in full
        cost = self.url_cost or 0
        return len(_URL.sub("x" * cost, text)) if self.url_cost else len(text)

    def describe(self) -> str:
        if self.url_cost is None:
            return f"{self.maximum} characters"
        return f"{self.maximum} characters (each link counts {self.url_cost})"


def limit_for(
    network: Network, *, max_characters: int | None = None, url_cost: int | None = None
) -> Limit:
    """The defaults (X 280, Mastodon 500, Bluesky 300 graphemes, LinkedIn 3,000, Threads
    500, a Facebook post 63,206; links in full where the network counts them so), or a
    Mastodon instance's own."""
    if network == Network.X:
        return Limit(network, 280, 23)
    if network == Network.MASTODON:
        return Limit(network, max_characters or 500, url_cost or 23)
    return Limit(network, _PLAIN_LIMITS[network], None)


_PLAIN_LIMITS = {
    Network.BLUESKY: 300,
    Network.LINKEDIN: 3000,
    Network.THREADS: 500,
    Network.FACEBOOK: 63206,
}


def plain_newlines(text: str) -> str:
    """Line breaks as the networks expect them: `\n` only. Browsers send a text area's
    lines with `\r\n` (the HTML form encoding), and a lone `\r` would be posted as is.

    Every text tribe posts passes here: a member's own words (`check_own_text`), their
    templates (`check_template` when stored, `_render` when filled in) and the titles,
    author names and tags filled into them.
    """
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _is_shouting(text: str) -> bool:
    letters = [c for c in text if c.isalpha() and (c.isupper() or c.islower())]
    return len(letters) >= 4 and sum(c.isupper() for c in letters) / len(letters) > 0.8


def _capitalize(word: str) -> str:
    return word[:1].upper() + word[1:].lower()


def clean_title(title: str) -> str:
    """Entities decoded, whitespace collapsed, an ALL-CAPS title brought down to Title Case."""
    text = _SPACE.sub(" ", html.unescape(title)).strip()
    if _is_shouting(text):
        text = _WORD.sub(lambda m: _capitalize(m.group(0)), text)
    return text


def hashtags(categories: list[str] | tuple[str, ...], most: int = 3) -> str:
    """Categories as hashtags: "Slow cooking" -> "#SlowCooking"."""
    tags: list[str] = []
    for category in categories:
        words = _WORD.findall(html.unescape(category))
        tag = "".join(w[:1].upper() + w[1:] for w in words).replace("'", "").replace("\u2019", "")
        if tag and not tag.isdigit() and f"#{tag}" not in tags:
            tags.append(f"#{tag}")
    return " ".join(tags[:most])


def check_template(template: str) -> str:
    """A template may use {title}, {url}, {author}, {tags}, and must keep the link.
    Returns the template as it is stored (with plain newlines)."""
    template = plain_newlines(template)
    try:
        parsed = list(Formatter().parse(template))
    except ValueError as exc:
        raise InvalidInputError(f"the template is not valid: {exc}") from None
    parts = [(name, spec, conversion) for _, name, spec, conversion in parsed if name is not None]
    # "{url!r}" or "{title:>99999999}" would break the text or build a huge string.
    if any(spec or conversion for _, spec, conversion in parts):
        raise InvalidInputError(
            "write placeholders plainly, like {title}: no ! or : inside the braces"
        )
    fields = {name for name, _, _ in parts}
    unknown = fields - PLACEHOLDERS
    if unknown:
        raise InvalidInputError(
            "unknown placeholder(s) "
            + ", ".join("{" + u + "}" for u in sorted(unknown))
            + "; use {title}, {url}, {author} and {tags}"
        )
    if "url" not in fields:
        raise InvalidInputError("the template must contain {url}: a reshare always links the post")
    return template


@dataclass(frozen=True)
class ShareInput:
    """What a share text is made of."""

    title: str
    url: str
    author: str  # the author's handle on the network, or their name
    categories: tuple[str, ...] = ()


def _safe_start(text: str) -> str:
    # A post that starts with a handle is read as a reply (or a private mention on
    # Mastodon): the usual ".@" keeps it public.
    return "." + text if text.startswith("@") else text


def _render(template: str, data: ShareInput, title: str, tags: str) -> str:
    text = plain_newlines(template.format(title=title, url=data.url, author=data.author, tags=tags))
    return _safe_start(_SPACE.sub(" ", text.replace("\n", "\x00")).replace("\x00", "\n").strip())


def fit(template: str, data: ShareInput, limit: Limit) -> str:
    """The template filled in, shortening the title (then dropping tags) until it fits."""
    title = clean_title(data.title)
    tags = hashtags(data.categories)
    for tag_text in (tags, ""):
        text = _render(template, data, title, tag_text)
        if limit.measure(text) <= limit.maximum:
            return text
        graphemes = regex.findall(r"\X", title)
        low, high, best = 0, len(graphemes) - 1, None
        while low <= high:  # the longest prefix of the title that fits
            middle = (low + high) // 2
            short = "".join(graphemes[:middle]).rstrip() + ELLIPSIS if middle else ""
            candidate = _render(template, data, short, tag_text)
            if limit.measure(candidate) <= limit.maximum:
                best, low = candidate, middle + 1
            else:
                high = middle - 1
        if best is not None:
            return best
    raise InvalidInputError(
        f"even without a title the {limit.network.value} text is longer than {limit.describe()}"
    )


def check_own_text(text: str, url: str, limit: Limit) -> str:
    """A member's own text is never cut: it fits as written (with the link) or is refused."""
    text = plain_newlines(text).strip()
    if not text:
        raise InvalidInputError(f"the {limit.network.value} text is empty")
    if url and url not in text:
        text = f"{text} {url}"
    text = _safe_start(text)
    counted = limit.measure(text)
    if counted > limit.maximum:
        raise InvalidInputError(
            f"your {limit.network.value} text is {counted} long and the limit is "
            f"{limit.describe()}; shorten it by {counted - limit.maximum}"
        )
    return text
