"""What the letter's pages show, apart from the routes: the web version of an edition
(the public archive's page, the draft's web preview, the archive feed's entries) and the
editor's draft form, read from what the browser sent and shown again as typed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import nh3

from tribe.alliance import drafts
from tribe.alliance import editions as ed
from tribe.alliance.counting import aware
from tribe.alliance.sending import Preview, default_subject
from tribe.core.errors import InvalidInputError
from tribe.core.kinds import EditionState
from tribe.infra.models import Tribe
from tribe.web.deps import templates

EMPTY_LINK_ROWS = 3  # blank rows for new outside links under the draft's own


def lines(text: str) -> str:
    """Browsers send text areas with CRLF: store the text with plain newlines."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


@dataclass(frozen=True)
class WebLetter:
    """One edition as the web shows it, from frozen picks (the archive) or the draft's."""

    tribe_name: str
    slug: str
    number: int
    subject: str
    paragraphs: list[list[str]]  # the introduction: paragraphs of lines
    authors: list[tuple[str, list[dict[str, object]]]]  # picks grouped by author, in order
    links: list[dict[str, str]]
    automatic: bool
    show_counts: bool  # how many tribemates shared each post: public if the chief chose
    editor_name: str = ""
    sent_at: datetime | None = None


def _paragraphs(intro: str) -> list[list[str]]:
    return [p.splitlines() for p in lines(intro).split("\n\n") if p.strip()]


def _by_author(picks: Sequence[dict[str, object]]) -> list[tuple[str, list[dict[str, object]]]]:
    """The letter's order, each author's posts together where their first one stands."""
    groups: dict[str, list[dict[str, object]]] = {}
    for pick in picks:
        groups.setdefault(str(pick.get("author", "")), []).append(pick)
    return list(groups.items())


def archived_letter(tribe: Tribe, edition: ed.Archived) -> WebLetter:
    return WebLetter(
        tribe_name=tribe.name,
        slug=tribe.slug,
        number=edition.number,
        subject=edition.subject or default_subject(tribe, edition.number),
        paragraphs=_paragraphs(edition.intro),
        authors=_by_author(edition.picks),
        links=edition.links,
        automatic=edition.automatic,
        show_counts=tribe.public_counts,
        editor_name=edition.editor_name,
        sent_at=edition.sent_at,
    )


def draft_letter(draft: drafts.Draft, shown: Preview) -> WebLetter:
    return WebLetter(
        tribe_name=draft.tribe.name,
        slug=draft.tribe.slug,
        number=draft.edition.number,
        subject=shown.subject,
        paragraphs=_paragraphs(draft.edition.intro),
        authors=_by_author(shown.picks),
        links=draft.edition.links,
        automatic=False,
        show_counts=draft.tribe.public_counts,
        editor_name=draft.editor_name,
    )


def letter_html(letter: WebLetter) -> str:
    """The web version's body, sanitized: the archive feed's entry content."""
    body = templates.get_template("letter_content.html").render(letter=letter)
    return nh3.clean(body, link_rel="noopener noreferrer")


# The editor's draft form


@dataclass(frozen=True)
class PostRow:
    """A post the draft can carry, with the editor's choice for it."""

    candidate: drafts.Candidate
    picked: bool
    order: str
    note: str


@dataclass(frozen=True)
class Submitted:
    """The draft's form as the editor sent it (or as stored, in the same shape)."""

    subject: str
    intro: str
    picked: frozenset[int]
    orders: dict[int, str]
    notes: dict[int, str]
    links: list[drafts.Link]

    @classmethod
    def of_draft(cls, draft: drafts.Draft) -> Submitted:
        picks = [c.post_id for c, _ in draft.picks]
        return cls(
            subject=draft.edition.subject,
            intro=draft.edition.intro,
            picked=frozenset(picks),
            orders={post_id: str(n) for n, post_id in enumerate(picks, start=1)},
            notes={c.post_id: note for c, note in draft.picks},
            links=draft.links,
        )

    def picks(self) -> list[drafts.Pick]:
        """The picked posts in the editor's order: by their numbers, then as listed."""
        ranked = []
        for index, (post_id, order) in enumerate(self.orders.items()):
            if post_id in self.picked:
                ranked.append((position(order), index, drafts.Pick(post_id, self.notes[post_id])))
        return [pick for *_, pick in sorted(ranked, key=lambda r: (r[0], r[1]))]


def position(order: str) -> float:
    text = order.strip()
    if not text:
        return float("inf")  # no number: after the numbered ones
    if not (text.isascii() and text.isdigit()) or len(text) > 6:  # "²" is a digit to isdigit
        raise InvalidInputError(
            f"{text[:20]!r} is not a place in the letter: number the posts 1, 2, 3..."
        )
    return int(text)


def submitted(
    subject: str,
    intro: str,
    posts: list[int],
    picked: list[int],
    orders: list[str],
    notes: list[str],
    links: tuple[list[str], list[str], list[str]],
) -> Submitted:
    if not len(posts) == len(orders) == len(notes):
        raise InvalidInputError("the form came incomplete: reload the page and try again")
    return Submitted(
        subject=subject,
        intro=lines(intro),
        picked=frozenset(picked),
        orders=dict(zip(posts, orders, strict=True)),
        notes={post_id: lines(note) for post_id, note in zip(posts, notes, strict=True)},
        links=_links(*links),
    )


def _links(urls: list[str], titles: list[str], notes: list[str]) -> list[drafts.Link]:
    """The outside links' rows that say something; a row without an address is refused
    rather than dropped, so a title typed in is not lost silently."""
    found = []
    for n in range(max(len(urls), len(titles), len(notes))):
        url, title, note = (_nth(column, n) for column in (urls, titles, notes))
        if not (url or title or note):
            continue
        if not url:
            raise InvalidInputError(
                f"give the address of the outside link {title or note!r}, or clear its row"
            )
        found.append(drafts.Link(url, title, lines(note)))
    return found


def _nth(values: list[str], n: int) -> str:
    return values[n].strip() if n < len(values) else ""


@dataclass(frozen=True)
class DraftForm:
    """What the editor's form shows: the edition, its posts by author, their choices."""

    number: int
    editor_id: int | None
    editor_name: str
    state: EditionState
    deadline: datetime
    send_at: datetime | None
    subject: str
    intro: str
    groups: list[tuple[str, list[PostRow]]]
    links: list[drafts.Link]
    automatic: bool  # the editor has not saved a selection: the tribe's own is shown
    deadline_local: str  # for the datetime-local field, in the editor's zone
    send_at_local: str


def _local_field(moment: datetime | None, zone: str) -> str:
    if moment is None:
        return ""
    return aware(moment).astimezone(ZoneInfo(zone)).strftime("%Y-%m-%dT%H:%M")


def draft_form(draft: drafts.Draft, values: Submitted, *, zone: str) -> DraftForm:
    """The draft form; its date fields in `zone`, the viewer's own."""
    groups: dict[str, list[PostRow]] = {}
    for c in draft.candidates:
        row = PostRow(
            c,
            c.post_id in values.picked,
            values.orders.get(c.post_id, "") if c.post_id in values.picked else "",
            values.notes.get(c.post_id, ""),
        )
        groups.setdefault(c.author, []).append(row)
    edition = draft.edition
    blank = [drafts.Link("", "", "")] * EMPTY_LINK_ROWS
    return DraftForm(
        number=edition.number,
        editor_id=edition.editor_id,
        editor_name=draft.editor_name,
        state=edition.state,
        deadline=aware(edition.deadline_at),
        send_at=aware(edition.send_at) if edition.send_at else None,
        subject=values.subject,
        intro=values.intro,
        groups=list(groups.items()),
        links=[*values.links, *blank],
        automatic=edition.edited_at is None,
        deadline_local=_local_field(edition.deadline_at, zone),
        send_at_local=_local_field(edition.send_at, zone),
    )
