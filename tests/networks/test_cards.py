"""Link cards (tribe/networks/cards.py): reading a page's head, preparing its picture,
and fetching both politely from a blogger's server (tests/fakenet/feeds.py).

The Bluesky publisher's use of them (upload once, keep the card, never fail the post)
is in tests/networks/test_bluesky.py.
"""

from __future__ import annotations

import gzip
import io
import os
from collections.abc import Iterator

import pytest
from PIL import Image

from config import get_settings
from tests.fakenet.common import (
    INTERNAL,
    TEST_POLICY,
    FakeServer,
    Response,
    Route,
    internal_server,
)
from tests.fakenet.feeds import FeedServer, gzip_bomb, huge, redirect, status
from tribe.networks.cards import (
    MAX_PIXELS,
    PAGE_MAX_BYTES,
    CardError,
    LinkCards,
    PageMeta,
    TTLCache,
    prepare_thumbnail,
    read_head,
)

LIMIT = 1_000_000


# Builders --------------------------------------------------------------------------------


def jpeg(size: tuple[int, int] = (120, 80), color: str = "teal") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "JPEG")
    return out.getvalue()


def noisy_png(size: tuple[int, int] = (800, 600)) -> bytes:
    """A PNG over a megabyte: noise does not compress."""
    out = io.BytesIO()
    Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3)).save(out, "PNG")
    assert out.tell() > LIMIT
    return out.getvalue()


def blog_page(
    *, title: str = "The page's title", description: str = "What the page says.", image: str = ""
) -> bytes:
    picture = f'<meta property="og:image" content="{image}">' if image else ""
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Plain title</title>"
        f'<meta property="og:title" content="{title}">'
        f'<meta property="og:description" content="{description}">{picture}'
        "</head><body><p>The article.</p></body></html>"
    ).encode()


HTML = {"Content-Type": "text/html; charset=utf-8"}


@pytest.fixture
def blog() -> Iterator[FeedServer]:
    with FeedServer() as running:
        yield running


def cards(**kw: float) -> LinkCards:
    return LinkCards(policy=TEST_POLICY, timeout=kw.get("timeout", 1.0), deadline=2.0)


# Reading a page's head (pure) -----------------------------------------------------------


def test_open_graph_comes_first() -> None:
    meta = read_head(blog_page(image="/images/cover.jpg"))
    assert meta == PageMeta("The page's title", "What the page says.", "/images/cover.jpg")


def test_without_open_graph_the_title_and_meta_description_serve() -> None:
    page = (
        b"<html><head><title>\n  Caf&eacute; &amp; cake\n</title>"
        b'<meta name="Description" content="  Sweet   things. ">'
        b'<meta name="twitter:image" content="https://img.example.org/a.png"></head>'
    )
    assert read_head(page) == PageMeta(
        "Café & cake", "Sweet things.", "https://img.example.org/a.png"
    )


def test_the_body_is_not_read_for_the_card() -> None:
    page = b'<head><title>Head</title></head><body><meta property="og:title" content="Body">'
    assert read_head(page).title == "Head"


def test_the_charset_comes_from_the_header_then_the_page() -> None:
    latin = '<head><meta property="og:title" content="Café"></head>'.encode("latin-1")
    assert read_head(latin, "text/html; charset=ISO-8859-1").title == "Café"
    declared = b'<head><meta charset="iso-8859-1">' + latin
    assert read_head(declared).title == "Café"
    # A charset Python has no text codec for reads as UTF-8.
    odd = '<head><meta charset="base64"><title>Ünïcode</title>'.encode()
    assert read_head(odd).title == "Ünïcode"


# Preparing a picture (pure) --------------------------------------------------------------


def test_a_small_jpeg_goes_as_it_is() -> None:
    data = jpeg()
    picture = prepare_thumbnail(data, max_bytes=LIMIT)
    assert picture.data == data
    assert picture.mime_type == "image/jpeg"


def test_a_png_over_the_limit_is_reencoded_as_a_jpeg_under_it() -> None:
    picture = prepare_thumbnail(noisy_png(), max_bytes=LIMIT)
    assert picture.mime_type == "image/jpeg"
    assert len(picture.data) <= LIMIT
    with Image.open(io.BytesIO(picture.data)) as image:
        assert image.format == "JPEG"
        assert image.size == (800, 600)


def test_a_gif_becomes_a_jpeg_with_its_transparency_white() -> None:
    out = io.BytesIO()
    gif = Image.new("P", (40, 30), 0)
    gif.putpalette([255, 0, 0] * 256)
    gif.save(out, "GIF", transparency=0)
    picture = prepare_thumbnail(out.getvalue(), max_bytes=LIMIT)
    assert picture.mime_type == "image/jpeg"
    with Image.open(io.BytesIO(picture.data)) as image:
        assert image.size == (40, 30)
        red, green, blue = image.convert("RGB").getpixel((20, 15))  # type: ignore[misc]
        assert min(red, green, blue) > 240  # white, not the palette's red


def test_a_picture_too_large_for_the_limit_is_made_smaller() -> None:
    picture = prepare_thumbnail(noisy_png((3000, 400)), max_bytes=200_000)
    assert len(picture.data) <= 200_000
    with Image.open(io.BytesIO(picture.data)) as image:
        assert image.width <= 2000
        assert abs(image.width / image.height - 7.5) < 0.1  # the same shape


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"<html>not a picture</html>", "not a picture"),
        (jpeg()[:300], "damaged"),
        (b"%PDF-1.4 a document", "not a picture"),
    ],
    ids=["html", "truncated", "pdf"],
)
def test_what_is_not_a_picture_is_refused(data: bytes, words: str) -> None:
    with pytest.raises(CardError, match=words):
        prepare_thumbnail(data, max_bytes=LIMIT)


def test_a_decompression_bomb_is_refused_before_it_is_decoded() -> None:
    out = io.BytesIO()
    Image.new("1", (10_000, 5_000)).save(out, "PNG")  # 50 million pixels in a few KB
    assert out.tell() < 100_000
    assert MAX_PIXELS < 10_000 * 5_000
    with pytest.raises(CardError, match="too many"):
        prepare_thumbnail(out.getvalue(), max_bytes=LIMIT)


# The cache (pure) ------------------------------------------------------------------------


def test_the_cache_forgets_after_its_ttl_and_keeps_failures_until_then() -> None:
    now = [0.0]
    cache: TTLCache[str | None] = TTLCache(max_bytes=1000, ttl=60, clock=lambda: now[0])
    cache.put("https://a/", None, 0)
    cache.put("https://b/", "page", 4)
    found = cache.get("https://a/")
    assert found is not None
    assert found.value is None  # a failure is an answer too
    now[0] = 61.0
    assert cache.get("https://a/") is None
    assert cache.get("https://b/") is None


def test_the_cache_is_bounded_by_bytes_oldest_out_first() -> None:
    cache: TTLCache[bytes] = TTLCache(max_bytes=100, ttl=60)
    cache.put("a", b"x" * 40, 40)
    cache.put("b", b"y" * 40, 40)
    assert cache.get("a") is not None  # "a" is now the most recently used
    cache.put("c", b"z" * 40, 40)
    assert cache.get("b") is None
    assert cache.get("a") is not None
    assert cache.get("c") is not None
    cache.put("d", b"w" * 200, 200)  # larger than the whole cache: not kept
    assert cache.get("d") is None
    assert cache.get("c") is not None


# Fetching from the blogger's server -------------------------------------------------------


def test_a_page_with_open_graph_and_a_jpeg(blog: FeedServer) -> None:
    blog.routes["/post"] = status(200, HTML, blog_page(image="/cover.jpg"))
    blog.routes["/cover.jpg"] = status(200, {"Content-Type": "image/jpeg"}, jpeg())
    maker = cards()
    card = maker.describe(blog.url("/post"), title="Feed title", summary="Feed summary")
    assert card.title == "The page's title"
    assert card.description == "What the page says."
    assert card.image_url == blog.url("/cover.jpg")
    picture = maker.thumbnail(card.image_url, max_bytes=LIMIT)
    assert picture is not None
    assert picture.data == jpeg()
    [page_request] = [r for r in blog.requests if r.path == "/post"]
    assert page_request.header("User-Agent") == "tribe (link cards)"
    assert "text/html" in (page_request.header("Accept") or "")


def test_the_operators_user_agent_comes_from_settings(blog: FeedServer) -> None:
    blog.routes["/post"] = status(200, HTML, blog_page())
    LinkCards.from_settings(get_settings()).describe(blog.url("/post"), title="", summary="")
    assert "mailto:operator@example.org" in blog.headers_of("/post")[0]["User-Agent"]


@pytest.mark.parametrize(
    "route",
    [
        status(404, {"Content-Type": "text/html"}, b"<title>Not found</title>"),
        status(200, {"Content-Type": "application/json"}, b'{"title": "json"}'),
        status(500),
    ],
    ids=["404", "not-html", "500"],
)
def test_a_page_that_gives_nothing_leaves_the_feeds_words(blog: FeedServer, route: Route) -> None:
    blog.routes["/post"] = route
    card = cards().describe(blog.url("/post"), title="Feed  title", summary="Feed summary")
    assert (card.title, card.description, card.image_url) == ("Feed title", "Feed summary", None)


def test_a_slow_page_leaves_the_feeds_words_within_the_timeout(blog: FeedServer) -> None:
    blog.routes["/post"] = status(200, HTML, blog_page())
    blog.slow(3.0, match="/post")
    card = cards(timeout=0.5).describe(blog.url("/post"), title="Feed title", summary="")
    assert card.title == "Feed title"


def test_only_the_head_of_a_huge_page_is_read(blog: FeedServer) -> None:
    sent = [0]

    def page() -> Iterator[bytes]:
        yield blog_page().split(b"<body>")[0] + b"<body>"
        for _ in range(200):  # 13 MB of article after the head
            sent[0] += 1
            yield b"<p>The article goes on.</p>" * 2500

    blog.routes["/post"] = lambda request: Response(200, page(), HTML)
    card = cards().describe(blog.url("/post"), title="Feed title", summary="")
    assert card.title == "The page's title"
    assert sent[0] < 200  # the reading stopped at the head


def test_a_page_with_a_head_longer_than_the_cap_is_cut_there(blog: FeedServer) -> None:
    padding = b"<!--" + b"x" * (2 * PAGE_MAX_BYTES) + b"-->"
    page = b"<head><title>Early</title>" + padding + b'<meta property="og:title" content="Late">'
    blog.routes["/post"] = status(200, HTML, page)
    card = cards().describe(blog.url("/post"), title="Feed title", summary="")
    assert card.title == "Early"


def test_a_gzipped_page_is_read_and_a_gzip_bomb_picture_refused(blog: FeedServer) -> None:
    blog.routes["/post"] = status(
        200, {**HTML, "Content-Encoding": "gzip"}, gzip.compress(blog_page(image="/bomb.jpg"))
    )
    blog.routes["/bomb.jpg"] = gzip_bomb()
    maker = cards()
    card = maker.describe(blog.url("/post"), title="", summary="")
    assert card.title == "The page's title"
    assert card.image_url is not None
    assert maker.thumbnail(card.image_url, max_bytes=LIMIT) is None


def test_a_picture_declared_larger_than_the_cap_is_not_downloaded(blog: FeedServer) -> None:
    blog.routes["/big.png"] = huge(50 * 1024 * 1024, declare_length=True)
    assert cards().thumbnail(blog.url("/big.png"), max_bytes=LIMIT) is None


@pytest.fixture
def internal() -> Iterator[FakeServer]:
    with internal_server() as server:
        yield server


def test_a_picture_on_a_refused_address_is_never_fetched(
    blog: FeedServer, internal: FakeServer
) -> None:
    assert internal.host == INTERNAL
    blog.routes["/post"] = status(200, HTML, blog_page(image=internal.url("/admin.jpg")))
    blog.routes["/hop.jpg"] = redirect(302, internal.url("/admin.jpg"))
    maker = cards()
    card = maker.describe(blog.url("/post"), title="", summary="")
    assert card.image_url == internal.url("/admin.jpg")
    assert maker.thumbnail(card.image_url, max_bytes=LIMIT) is None
    assert maker.thumbnail(blog.url("/hop.jpg"), max_bytes=LIMIT) is None  # a redirect inside
    assert internal.requests == []


def test_a_picture_that_is_no_web_address_is_left_out(blog: FeedServer) -> None:
    blog.routes["/post"] = status(200, HTML, blog_page(image="data:image/png;base64,iVBORw0K"))
    card = cards().describe(blog.url("/post"), title="", summary="")
    assert card.image_url is None


def test_redirects_are_followed_a_few_hops_only(blog: FeedServer) -> None:
    blog.routes["/post"] = redirect(301, "/post/")
    blog.routes["/post/"] = status(200, HTML, blog_page())
    for n in range(5):
        blog.routes[f"/loop{n}"] = redirect(302, f"/loop{n + 1}")
    maker = cards()
    assert maker.describe(blog.url("/post"), title="Feed", summary="").title == "The page's title"
    assert maker.describe(blog.url("/loop0"), title="Feed", summary="").title == "Feed"
    assert blog.hits("/loop4") == 0


def test_pages_and_pictures_are_fetched_once_while_cached(blog: FeedServer) -> None:
    blog.routes["/post"] = status(200, HTML, blog_page(image="/cover.jpg"))
    blog.routes["/cover.jpg"] = status(200, {"Content-Type": "image/jpeg"}, jpeg())
    blog.routes["/gone"] = status(404)
    maker = cards()
    for _ in range(3):
        card = maker.describe(blog.url("/post"), title="", summary="")
        assert card.image_url is not None
        assert maker.thumbnail(card.image_url, max_bytes=LIMIT) is not None
        maker.describe(blog.url("/gone"), title="Feed", summary="")
    assert (blog.hits("/post"), blog.hits("/cover.jpg"), blog.hits("/gone")) == (1, 1, 1)
