"""Share text: templates, title hygiene, and fitting each network's counting rules."""

from typing import cast

import pytest
import regex

from tribe.core.errors import InvalidInputError
from tribe.core.kinds import Network
from tribe.core.sharetext import (
    DEFAULT_TEMPLATES,
    ELLIPSIS,
    ShareInput,
    check_own_text,
    check_template,
    clean_title,
    fit,
    hashtags,
    limit_for,
)

LONG_URL = (
    "https://alice.blog/2026/03/03/why-tomatoes-split-and-what-to-do-about-it/"
    "?utm_campaign=spring&ref=tribe&lang=en-GB&page=2#comments"
)

TITLES = {
    "emoji": "🍅🍅 Tomatoes split 👩‍🌾 after rain — here's why 🌧️ " * 14,
    "cjk": "雨の後にトマトが割れる理由と、その対策についての詳しい解説です。" * 16,
    "combining": "Cafe\u0301 cre\u0300me bru\u0302le\u0301e: the slow way " * 16,
    "ascii": "A very long title about compost, soil, seeds and the patience they need " * 8,
}


def graphemes(text: str) -> list[str]:
    return cast(list[str], regex.findall(r"\X", text))  # regex ships no type hints


@pytest.mark.parametrize("network", list(Network))
@pytest.mark.parametrize("kind", sorted(TITLES))
def test_long_real_world_titles_are_shortened_and_the_link_survives(
    network: Network, kind: str
) -> None:
    limit = limit_for(network)
    title = TITLES[kind] * (1 + limit.maximum // len(TITLES[kind]))  # longer than any post
    data = ShareInput(title=title, url=LONG_URL, author="@alice", categories=("Gardening",))
    text = fit(DEFAULT_TEMPLATES[network], data, limit)
    assert limit.measure(text) <= limit.maximum
    assert LONG_URL in text  # never cut
    assert ELLIPSIS in text
    title_part = text.split(LONG_URL)[0]
    assert set(graphemes(title_part.rstrip(" " + ELLIPSIS + "\n"))) <= set(graphemes(TITLES[kind]))
    # shortened at grapheme boundaries: no lone combining mark or broken emoji
    assert not regex.match(r"\p{M}", title_part.split(ELLIPSIS)[-1] or "x")


def test_x_counts_cjk_double_and_every_url_23() -> None:
    x = limit_for(Network.X)
    assert x.measure("a" * 10) == 10
    assert x.measure("雨" * 10) == 20
    assert x.measure(LONG_URL) == 23
    assert x.measure("🍅") == 2  # X weighs an emoji as 2


def test_bluesky_counts_graphemes_and_full_links() -> None:
    bsky = limit_for(Network.BLUESKY)
    assert bsky.measure("👩‍🌾") == 1
    assert bsky.measure("e\u0301") == 1
    assert bsky.measure(LONG_URL) == len(LONG_URL)
    assert bsky.maximum == 300


def test_mastodon_counts_links_23_and_the_instance_can_change_both() -> None:
    default = limit_for(Network.MASTODON)
    assert (default.maximum, default.measure(f"hi {LONG_URL}")) == (500, 26)
    big = limit_for(Network.MASTODON, max_characters=5000, url_cost=30)
    assert (big.maximum, big.measure(f"hi {LONG_URL}")) == (5000, 33)


def test_a_short_title_is_kept_whole() -> None:
    data = ShareInput("Seed swap on Saturday", "https://alice.blog/s", "@alice", ("Events",))
    assert fit(DEFAULT_TEMPLATES[Network.X], data, limit_for(Network.X)) == (
        "Seed swap on Saturday https://alice.blog/s via @alice"
    )
    assert fit(DEFAULT_TEMPLATES[Network.MASTODON], data, limit_for(Network.MASTODON)) == (
        "Seed swap on Saturday\n\nhttps://alice.blog/s\n\nvia @alice #Events"
    )


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("SEED SWAP THIS SATURDAY!!!", "Seed Swap This Saturday!!!"),
        ("DON'T PANIC: IT'S ONLY RAIN", "Don't Panic: It's Only Rain"),
        ("Fish &amp; chips &#8211; a love story", "Fish & chips \u2013 a love story"),
        ("  Too   many\n\tspaces ", "Too many spaces"),
        ("NASA and the ESA agree", "NASA and the ESA agree"),  # acronyms in normal text stay
        ("OK", "OK"),  # too short to be shouting
    ],
)
def test_title_hygiene(raw: str, clean: str) -> None:
    assert clean_title(raw) == clean


def test_a_text_starting_with_a_handle_does_not_become_a_reply() -> None:
    data = ShareInput("@bob was right about compost", "https://alice.blog/c", "Alice")
    text = fit("{title} {url}", data, limit_for(Network.X))
    assert text == ".@bob was right about compost https://alice.blog/c"
    assert check_own_text(
        "@bob look", "https://alice.blog/c", limit_for(Network.MASTODON)
    ).startswith(".@")


def test_hashtags_from_categories() -> None:
    assert hashtags(
        ["Slow cooking", "slow cooking", "2026", "Tomato's", "Vegetables", "Extra"]
    ) == ("#SlowCooking #Tomatos #Vegetables")


def test_tags_are_dropped_before_the_text_gives_up() -> None:
    data = ShareInput(
        "T" * 5, "https://a.blog/x", "@a", tuple(f"category{i}" * 12 for i in range(3))
    )
    text = fit("{url} {tags}", data, limit_for(Network.BLUESKY))
    assert text == "https://a.blog/x"


def test_a_template_that_can_never_fit_is_an_error() -> None:
    data = ShareInput("title", "https://a.blog/x", "x" * 400)
    with pytest.raises(InvalidInputError, match="even without a title"):
        fit("{author} {url}", data, limit_for(Network.BLUESKY))


def test_own_text_is_refused_with_its_counted_length_never_cut() -> None:
    with pytest.raises(InvalidInputError) as error:
        check_own_text("a" * 270, "https://alice.blog/p", limit_for(Network.X))
    assert str(error.value) == (
        "your x text is 294 long and the limit is 280 characters (each link counts 23); "
        "shorten it by 14"
    )
    assert check_own_text("Great read!", "https://alice.blog/p", limit_for(Network.X)) == (
        "Great read! https://alice.blog/p"
    )
    with pytest.raises(InvalidInputError, match="empty"):
        check_own_text("   ", "https://alice.blog/p", limit_for(Network.X))


@pytest.mark.parametrize(
    ("template", "words"),
    [
        ("{title} {link}", "unknown placeholder(s) {link}"),
        ("{title} by {author}", "must contain {url}"),
        ("{title {url}", "not valid"),
    ],
)
def test_bad_templates_are_refused(template: str, words: str) -> None:
    with pytest.raises(InvalidInputError, match=regex.escape(words)):
        check_template(template)


def test_good_templates_pass() -> None:
    for template in DEFAULT_TEMPLATES.values():
        assert check_template(template) == template
