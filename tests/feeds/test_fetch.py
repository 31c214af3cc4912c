import gzip
import time
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from config import get_settings
from tests.builders import Item, rss
from tests.fakenet.feeds import (
    Feed,
    FeedServer,
    gzip_bomb,
    huge,
    redirect,
    status,
    trickle,
)
from tribe.core.errors import BlockedAddressError, FetchError
from tribe.infra.netguard import AddressPolicy, unreachable
from tribe.ingest import fetch_config
from tribe.ingest.fetch import (
    Fetcher,
    GoneError,
    HTTPStatusError,
    Validators,
    parse_max_age,
    parse_retry_after,
)

BODY = rss([Item("Hello", guid="1")])


@pytest.fixture
def fetcher() -> Iterator[Fetcher]:
    client = Fetcher(fetch_config(get_settings()))
    yield client
    client.close()


def test_a_feed_is_fetched_with_an_honest_user_agent(server: FeedServer, fetcher: Fetcher) -> None:
    server.routes["/feed"] = Feed(BODY)
    result = fetcher.fetch(server.url("/feed"))
    assert result.status == 200
    assert result.body == BODY
    assert result.headers["content-type"].startswith("application/rss+xml")
    (headers,) = server.headers_of("/feed")
    assert headers["User-Agent"].startswith("tribe/")
    assert "mailto:operator@example.org" in headers["User-Agent"]
    assert "gzip" in headers["Accept-Encoding"]


def test_validators_are_stored_as_received_and_sent_back(
    server: FeedServer, fetcher: Fetcher
) -> None:
    feed = Feed(BODY)
    server.routes["/feed"] = feed
    first = fetcher.fetch(server.url("/feed"))
    assert first.validators.etag == feed.etag_value
    assert first.validators.last_modified == "Mon, 01 Jan 2024 00:00:00 GMT"
    second = fetcher.fetch(server.url("/feed"), first.validators)
    assert second.status == 304
    assert second.not_modified
    _, sent = server.headers_of("/feed")
    assert sent["If-None-Match"] == feed.etag_value
    assert sent["If-Modified-Since"] == "Mon, 01 Jan 2024 00:00:00 GMT"


def test_polls_of_a_host_share_one_connection_whatever_the_answer(
    server: FeedServer, fetcher: Fetcher
) -> None:
    """A blog's server is asked for its feed every few minutes: after the first poll,
    it should not see a new TCP (and TLS) handshake for each 304."""
    server.routes["/feed"] = Feed(BODY)
    first = fetcher.fetch(server.url("/feed"))
    for _ in range(3):
        assert fetcher.fetch(server.url("/feed"), first.validators).not_modified
    assert fetcher.fetch(server.url("/feed")).status == 200
    assert len({request.port for request in server.calls("GET", "/feed")}) == 1


def test_last_modified_alone_is_enough_for_a_304(server: FeedServer, fetcher: Fetcher) -> None:
    server.routes["/feed"] = Feed(BODY, etag=False)
    first = fetcher.fetch(server.url("/feed"))
    assert first.validators.etag is None
    assert fetcher.fetch(server.url("/feed"), first.validators).not_modified


def test_gzip_and_deflate_bodies_are_decoded(server: FeedServer, fetcher: Fetcher) -> None:
    server.routes["/gz"] = status(200, {"Content-Encoding": "gzip"}, gzip.compress(BODY))
    raw = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    server.routes["/raw-deflate"] = status(
        200, {"Content-Encoding": "deflate"}, raw.compress(BODY) + raw.flush()
    )
    server.routes["/zlib-deflate"] = status(
        200, {"Content-Encoding": "deflate"}, zlib.compress(BODY)
    )
    for path in ("/gz", "/raw-deflate", "/zlib-deflate"):
        assert fetcher.fetch(server.url(path)).body == BODY, path


def test_a_permanent_redirect_reports_the_new_address(server: FeedServer, fetcher: Fetcher) -> None:
    server.routes["/old"] = redirect(301, "/new")
    server.routes["/new"] = Feed(BODY)
    result = fetcher.fetch(server.url("/old"))
    assert result.url == server.url("/new")
    assert result.moved_to == server.url("/new")


def test_a_temporary_hop_anywhere_keeps_the_old_address(
    server: FeedServer, fetcher: Fetcher
) -> None:
    server.routes["/a"] = redirect(308, "/b")
    server.routes["/b"] = redirect(302, "/c")
    server.routes["/c"] = Feed(BODY)
    result = fetcher.fetch(server.url("/a"))
    assert result.url == server.url("/c")
    assert result.moved_to == server.url("/b")  # only the permanent part of the chain


def test_five_redirects_are_followed_and_a_sixth_is_refused(
    server: FeedServer, fetcher: Fetcher
) -> None:
    for i in range(6):
        server.routes[f"/r{i}"] = redirect(302, f"/r{i + 1}")
    server.routes["/r6"] = Feed(BODY)
    assert fetcher.fetch(server.url("/r1")).status == 200  # r1 -> r6: five redirects
    with pytest.raises(FetchError, match="more than 5 times"):
        fetcher.fetch(server.url("/r0"))


def test_a_redirect_loop_is_named(server: FeedServer, fetcher: Fetcher) -> None:
    server.routes["/ping"] = redirect(302, "/pong")
    server.routes["/pong"] = redirect(302, "/ping")
    with pytest.raises(FetchError, match="loop"):
        fetcher.fetch(server.url("/ping"))


@pytest.mark.parametrize(
    ("target", "host", "detail"),
    [
        ("http://127.0.0.1:{port}/feed", "127.0.0.1", "loopback"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254", "link-local"),
        ("http://[::1]:{port}/feed", "::1", "loopback"),
        ("http://10.0.0.1/feed", "10.0.0.1", "private network"),
        # getaddrinfo reads these as 127.0.0.1 (octal, hex, one number); so does tribe.
        ("http://0177.0.0.1:{port}/feed", "127.0.0.1", "loopback"),
        ("http://0x7f.1:{port}/feed", "127.0.0.1", "loopback"),
        ("http://2130706433:{port}/feed", "127.0.0.1", "loopback"),
    ],
)
def test_a_redirect_to_a_forbidden_address_is_refused_in_plain_words(
    server: FeedServer,
    fetcher: Fetcher,
    caplog: pytest.LogCaptureFixture,
    target: str,
    host: str,
    detail: str,
) -> None:
    server.routes["/sneaky"] = redirect(302, target.format(port=server.port))
    with pytest.raises(BlockedAddressError) as refused:
        fetcher.fetch(server.url("/sneaky"))
    assert str(refused.value) == unreachable(host)
    assert detail not in str(refused.value)
    # The operator reads why, without a traceback.
    (record,) = [r for r in caplog.records if r.name == "tribe.infra.netguard"]
    assert detail in record.getMessage()
    assert record.exc_info is None


def test_a_name_resolving_to_loopback_is_refused_at_connect_time(fetcher: Fetcher) -> None:
    with pytest.raises(BlockedAddressError) as refused:
        fetcher.fetch("http://localhost:9/feed")
    assert str(refused.value) == unreachable("localhost")


def test_a_refused_name_and_a_name_that_does_not_resolve_read_the_same(fetcher: Fetcher) -> None:
    """A member must not learn how tribe's network resolves names (internal names exist)."""
    messages = []
    for host in ("localhost", "no-such-host.invalid"):
        with pytest.raises(FetchError) as failed:
            fetcher.fetch(f"http://{host}:9/feed")
        messages.append(str(failed.value).replace(host, "HOST"))
    assert messages[0] == messages[1] == unreachable("HOST")
    assert "resolve" not in messages[0]


def test_private_addresses_are_allowed_only_when_configured(server: FeedServer) -> None:
    config = fetch_config(get_settings())
    server.routes["/feed"] = Feed(BODY)
    loopback_url = server.url("/feed")
    strict = Fetcher(config.__class__(**{**config.__dict__, "policy": AddressPolicy()}))
    with pytest.raises(BlockedAddressError):
        strict.fetch(loopback_url)
    open_ = Fetcher(config.__class__(**{**config.__dict__, "policy": AddressPolicy(True)}))
    assert open_.fetch(loopback_url).status == 200


@pytest.mark.parametrize("url", ["ftp://example.com/feed", "file:///etc/passwd"])
def test_only_http_is_fetched(fetcher: Fetcher, url: str) -> None:
    with pytest.raises(FetchError, match="only fetches http"):
        fetcher.fetch(url)


def test_a_redirect_to_another_scheme_is_refused(server: FeedServer, fetcher: Fetcher) -> None:
    server.routes["/f"] = redirect(301, "file:///etc/passwd")
    with pytest.raises(FetchError, match="only fetches http"):
        fetcher.fetch(server.url("/f"))


@pytest.mark.parametrize("declare_length", [True, False])
def test_a_body_over_the_cap_is_refused(
    server: FeedServer, fetcher: Fetcher, declare_length: bool
) -> None:
    server.routes["/big"] = huge(50 * 1024 * 1024, declare_length=declare_length)
    with pytest.raises(FetchError, match="larger than 10 MiB"):
        fetcher.fetch(server.url("/big"))


def test_a_gzip_bomb_stops_at_the_cap(server: FeedServer, fetcher: Fetcher) -> None:
    server.routes["/bomb"] = gzip_bomb()
    with pytest.raises(FetchError, match="larger than 10 MiB"):
        fetcher.fetch(server.url("/bomb"))


def test_corrupt_gzip_is_an_error(server: FeedServer, fetcher: Fetcher) -> None:
    server.routes["/broken"] = status(200, {"Content-Encoding": "gzip"}, b"\x1f\x8bnot gzip")
    with pytest.raises(FetchError, match="corrupt compressed"):
        fetcher.fetch(server.url("/broken"))


def test_a_server_sending_a_byte_per_second_hits_the_deadline(
    server: FeedServer, fetcher: Fetcher
) -> None:
    server.routes["/slow"] = trickle(BODY, bytes_per_second=2)
    started = time.monotonic()
    with pytest.raises(FetchError, match="too slow"):
        fetcher.fetch(server.url("/slow"))
    assert time.monotonic() - started < get_settings().TRIBE_FETCH_DEADLINE.total_seconds() + 1.5


def test_a_server_that_never_answers_hits_the_deadline(
    server: FeedServer, fetcher: Fetcher
) -> None:
    server.routes["/silent"] = Feed(BODY)
    server.slow(10, match="/silent")
    with pytest.raises(FetchError, match="too slow"):
        fetcher.fetch(server.url("/silent"))


def test_nothing_listening_is_a_clear_error(fetcher: Fetcher) -> None:
    with pytest.raises(FetchError, match=r"could not fetch the feed from 127\.0\.0\.2"):
        fetcher.fetch("http://127.0.0.2:9/feed")


def test_a_name_that_does_not_resolve_is_a_clear_error(fetcher: Fetcher) -> None:
    with pytest.raises(FetchError) as failed:
        fetcher.fetch("http://no-such-host.invalid/feed")
    assert str(failed.value) == unreachable("no-such-host.invalid")


@pytest.mark.parametrize("location", ["http://[::1/feed", "http://host:99999/feed"])
def test_a_redirect_to_a_broken_address_is_a_fetch_error(
    server: FeedServer, fetcher: Fetcher, location: str
) -> None:
    server.routes["/broken"] = redirect(302, location)
    with pytest.raises(FetchError, match=r"invalid address|invalid port"):
        fetcher.fetch(server.url("/broken"))


@pytest.mark.parametrize(
    ("code", "words"),
    [(404, "no feed at this address"), (403, "refused"), (500, "server error"), (418, "418")],
)
def test_error_statuses_become_sentences(
    server: FeedServer, fetcher: Fetcher, code: int, words: str
) -> None:
    server.routes["/feed"] = status(code)
    with pytest.raises(HTTPStatusError, match=words) as error:
        fetcher.fetch(server.url("/feed"))
    assert error.value.status == code


def test_gone_and_retry_after_are_reported(server: FeedServer, fetcher: Fetcher) -> None:
    server.routes["/gone"] = status(410)
    server.routes["/busy"] = status(503, {"Retry-After": "7200"})
    server.routes["/slow-down"] = status(429, {"Retry-After": "900"})
    with pytest.raises(GoneError, match="gone for good"):
        fetcher.fetch(server.url("/gone"))
    with pytest.raises(HTTPStatusError) as error:
        fetcher.fetch(server.url("/busy"))
    assert error.value.retry_after == timedelta(hours=2)
    with pytest.raises(HTTPStatusError) as error:
        fetcher.fetch(server.url("/slow-down"))
    assert error.value.status == 429
    assert error.value.retry_after == timedelta(minutes=15)


def test_cache_control_max_age_is_reported(server: FeedServer, fetcher: Fetcher) -> None:
    server.routes["/feed"] = Feed(BODY, extra_headers={"Cache-Control": "public, max-age=3600"})
    assert fetcher.fetch(server.url("/feed")).max_age == timedelta(hours=1)


def test_retry_after_reads_seconds_and_dates() -> None:
    now = datetime(2026, 1, 1, 12, tzinfo=UTC)
    assert parse_retry_after("120", now) == timedelta(minutes=2)
    assert parse_retry_after("Thu, 01 Jan 2026 14:00:00 GMT", now) == timedelta(hours=2)
    assert parse_retry_after("Thu, 01 Jan 2026 10:00:00 GMT", now) == timedelta(0)
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None, now) is None


def test_max_age_parsing() -> None:
    assert parse_max_age("no-cache, max-age=60") == timedelta(minutes=1)
    assert parse_max_age('max-age="90"') == timedelta(seconds=90)
    assert parse_max_age("s-maxage=60") is None
    assert parse_max_age(None) is None


def test_a_304_without_validators_in_it_keeps_the_old_ones(
    server: FeedServer, fetcher: Fetcher
) -> None:
    server.routes["/feed"] = status(304)
    result = fetcher.fetch(server.url("/feed"), Validators(etag='"x"'))
    assert result.not_modified
    assert result.validators.etag is None  # the poll keeps the stored one (see test_poll)
