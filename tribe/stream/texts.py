"""What each account would post for a stream item: its share texts, previews, and a
template tried on a real post."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlmodel import Session, col, select

from tribe.core.kinds import Network
from tribe.core.sharetext import ShareInput, check_own_text, check_template, fit, limit_for
from tribe.infra.models import Account, Feed, Member, Post, StreamItem
from tribe.members.accounts import (
    check_network,
    limit_of,
    member_accounts,
    mention,
    template_for,
)
from tribe.members.tribemates import item_author, shares_a_tribe
from tribe.stream.items import own_item


def _author_name(session: Session, post: Post, network: Network) -> str:
    """The author's handle on the network when they have an account there, else their name."""
    feed = session.get(Feed, post.feed_id)
    assert feed is not None
    account = session.exec(
        select(Account).where(
            col(Account.member_id) == feed.owner_id,
            col(Account.network) == network,
            col(Account.active).is_(True),
        )
    ).first()
    if account is not None:
        return mention(account)
    author = session.get(Member, feed.owner_id)
    assert author is not None
    return author.display_name


def share_texts(
    session: Session,
    member: Member,
    post: Post,
    accounts: list[Account],
    own: Mapping[Network, str],
) -> dict[int, str]:
    """The text each account would post: the member's own words, or their template."""
    texts: dict[int, str] = {}
    for account in accounts:
        limit = limit_of(account)
        if account.network in own:
            texts[account.id] = check_own_text(own[account.network], post.url, limit)  # type: ignore[index]
        else:
            data = ShareInput(
                title=post.title or post.url,
                url=post.url,
                author=_author_name(session, post, account.network),
                categories=tuple(post.categories),
            )
            texts[account.id] = fit(template_for(member, account.network), data, limit)  # type: ignore[index]
    return texts


@dataclass(frozen=True)
class Preview:
    """What one account would post for a stream item, and the limit its text must fit."""

    account_id: int
    network: Network
    handle: str
    text: str
    maximum: int
    url_cost: int | None


def previews(session: Session, *, member: Member, item_ids: list[int]) -> dict[int, list[Preview]]:
    """For each of the member's items, the text each active account would post as is."""
    accounts = member_accounts(session, member)
    result: dict[int, list[Preview]] = {}
    for item_id in item_ids:
        item = own_item(session, member=member, item_id=item_id)
        post = session.get(Post, item.post_id)
        assert post is not None
        texts = share_texts(session, member, post, accounts, {})
        result[item_id] = [
            Preview(
                account_id=a.id,  # type: ignore[arg-type]
                network=a.network,
                handle=mention(a),
                text=texts[a.id],  # type: ignore[index]
                maximum=limit_of(a).maximum,
                url_cost=limit_of(a).url_cost,
            )
            for a in accounts
        ]
    return result


def edited_texts(
    session: Session, *, member: Member, item_id: int, given: dict[Network, str | None]
) -> dict[Network, str]:
    """Of the texts a member sent back for an item, those they changed: a text that reads
    as what tribe would post anyway (spacing aside) is not their own words, so it keeps
    following their template."""
    texts = {n: t.strip() for n, t in given.items() if t and t.strip()}
    if not texts:
        return {}
    shown = previews(session, member=member, item_ids=[item_id])[item_id]
    as_is = {p.network: p.text for p in shown}
    return {
        n: t for n, t in texts.items() if " ".join(t.split()) != " ".join(as_is.get(n, "").split())
    }


SAMPLE = ShareInput(
    title="Ten things I learned growing tomatoes on a balcony",
    url="https://blog.example/2026/tomatoes",
    author="Alice",
    categories=("Gardening", "Balcony"),
)


def template_preview(session: Session, *, member: Member, network: str, template: str) -> str:
    """`template` filled in for the newest post in the member's stream (a sample post when
    there is none yet), fitted to the member's account on that network."""
    net = check_network(network)
    check_template(template)
    post = session.exec(
        select(Post)
        .join(StreamItem, col(StreamItem.post_id) == col(Post.id))
        .where(
            col(StreamItem.member_id) == member.id,
            shares_a_tribe(col(StreamItem.member_id), item_author()),
        )
        .order_by(col(StreamItem.id).desc())
    ).first()
    account = next((a for a in member_accounts(session, member) if a.network == net), None)
    limit = limit_of(account) if account else limit_for(net)
    data = SAMPLE
    if post is not None:
        data = ShareInput(
            title=post.title or post.url,
            url=post.url,
            author=_author_name(session, post, net),
            categories=tuple(post.categories),
        )
    return fit(template, data, limit)
