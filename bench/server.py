"""A fast local feed server for the benchmark: N WordPress-like feeds on many loopback hosts.

Run as its own process (so it does not share a GIL with what is measured):

    python bench/server.py --feeds 2000 --hosts 100 --port 8900

Feed i lives at http://127.0.1.<1 + i % hosts>:<port>/feed/<i>.xml, 20 entries each,
served with ETag / Last-Modified and gzip. `GET /__warm` is one more warm round: 10% of
the feeds gain a new entry (new ETag), published at that moment (it answers with the
moment, ISO 8601, for the freshness measure); the other 90% answer 304 to a
conditional GET. `GET /__stats` returns request counts as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import hashlib
import json
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

WORDS = [
    "garden",
    "tomato",
    "season",
    "rain",
    "soil",
    "compost",
    "seed",
    "harvest",
    "light",
    "morning",
    "bread",
    "oven",
    "recipe",
    "flour",
    "yeast",
    "travel",
    "train",
    "station",
    "coffee",
    "notebook",
    "writing",
    "draft",
    "editor",
    "chapter",
    "story",
    "river",
    "bridge",
    "city",
    "night",
    "walk",
    "code",
    "python",
    "server",
    "deploy",
    "release",
]


EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


def host_for(index: int, hosts: int) -> str:
    return f"127.0.1.{1 + index % hosts}"


def _sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


def feed_xml(index: int, entries: int, extra: tuple[datetime, ...] = ()) -> bytes:
    """A WordPress-shaped RSS 2.0 document with the newest `entries` posts.

    `extra` holds the publication times of the posts published on top in the warm
    rounds (the oldest ones drop out); each post's text is seeded by its own number,
    so a post never changes.
    """
    items = []
    for n in range(entries + len(extra), len(extra), -1):
        rng = random.Random(index * 100_000 + n)
        published = extra[n - entries - 1] if n > entries else EPOCH + timedelta(hours=6 * n)
        slug = f"post-{index}-{n}"
        body = "".join(f"<p>{_sentence(rng, 40)}</p>\n" for _ in range(6))
        items.append(
            f"""<item>
\t<title>{_sentence(rng, 6)}</title>
\t<link>https://blog{index}.example/{published:%Y/%m/%d}/{slug}/</link>
\t<dc:creator><![CDATA[author{index}]]></dc:creator>
\t<pubDate>{format_datetime(published)}</pubDate>
\t<category><![CDATA[{rng.choice(WORDS)}]]></category>
\t<category><![CDATA[{rng.choice(WORDS)}]]></category>
\t<guid isPermaLink="false">https://blog{index}.example/?p={index * 1000 + n}</guid>
\t<description><![CDATA[{_sentence(rng, 30)} [&#8230;]]]></description>
\t<content:encoded><![CDATA[{body}]]></content:encoded>
</item>"""
        )
    rng = random.Random(index)
    return (
        f"""<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"
\txmlns:content="http://purl.org/rss/1.0/modules/content/"
\txmlns:dc="http://purl.org/dc/elements/1.1/"
\txmlns:atom="http://www.w3.org/2005/Atom">
<channel>
\t<title>Blog number {index}</title>
\t<link>https://blog{index}.example</link>
\t<description>{_sentence(rng, 8)}</description>
\t<generator>https://wordpress.org/?v=6.7.1</generator>
{"".join(items)}
</channel>
</rss>
"""
    ).encode()


@dataclass
class Doc:
    raw: bytes
    gz: bytes
    etag: str
    modified: str


def make_doc(body: bytes, modified: datetime) -> Doc:
    return Doc(
        raw=body,
        gz=gzip.compress(body, 6),
        etag='"' + hashlib.sha1(body).hexdigest()[:20] + '"',
        modified=format_datetime(modified, usegmt=True),
    )


class Site:
    def __init__(self, feeds: int, entries: int) -> None:
        base = datetime(2026, 3, 1, tzinfo=UTC)
        self.docs = [make_doc(feed_xml(i, entries), base) for i in range(feeds)]
        self.entries = entries
        self.counts = {"200": 0, "304": 0, "404": 0}
        self.published: tuple[datetime, ...] = ()  # the warm rounds' new posts

    def warm(self) -> datetime:
        """One more warm round: every tenth feed gains a new entry, published now."""
        self.published = (*self.published, datetime.now(UTC))
        changed = range(0, len(self.docs), 10)
        documents = [
            make_doc(feed_xml(i, self.entries, self.published), self.published[-1]) for i in changed
        ]
        for i, doc in zip(changed, documents, strict=True):  # built first, out at once
            self.docs[i] = doc
        return datetime.now(UTC)  # the moment the new posts are out

    def answer(self, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        if path == "/__warm":
            return 200, {}, self.warm().isoformat().encode()
        if path == "/__stats":
            return 200, {"Content-Type": "application/json"}, json.dumps(self.counts).encode()
        if not (path.startswith("/feed/") and path.endswith(".xml")):
            self.counts["404"] += 1
            return 404, {}, b""
        try:
            doc = self.docs[int(path[6:-4])]
        except (ValueError, IndexError):
            self.counts["404"] += 1
            return 404, {}, b""
        if headers.get("if-none-match") == doc.etag or (
            "if-none-match" not in headers and headers.get("if-modified-since") == doc.modified
        ):
            self.counts["304"] += 1
            return 304, {"ETag": doc.etag}, b""
        self.counts["200"] += 1
        out = {
            "Content-Type": "application/rss+xml; charset=UTF-8",
            "ETag": doc.etag,
            "Last-Modified": doc.modified,
        }
        if "gzip" in headers.get("accept-encoding", ""):
            out["Content-Encoding"] = "gzip"
            return 200, out, doc.gz
        return 200, out, doc.raw


REASONS = {200: "OK", 304: "Not Modified", 404: "Not Found"}


async def handle(site: Site, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            request = await reader.readuntil(b"\r\n\r\n")
            lines = request.decode("latin-1").split("\r\n")
            _method, path, _version = lines[0].split(" ", 2)
            headers = {}
            for line in lines[1:]:
                if ":" in line:
                    name, value = line.split(":", 1)
                    headers[name.strip().lower()] = value.strip()
            status, out, body = site.answer(path, headers)
            head = f"HTTP/1.1 {status} {REASONS.get(status, 'OK')}\r\n"
            head += "".join(f"{k}: {v}\r\n" for k, v in out.items())
            head += f"Content-Length: {len(body)}\r\n\r\n"
            writer.write(head.encode("latin-1") + body)
            await writer.drain()
            if headers.get("connection", "").lower() == "close":
                break
    except (asyncio.IncompleteReadError, ConnectionError, ValueError):
        pass
    finally:
        writer.close()


async def main(feeds: int, hosts: int, port: int, entries: int) -> None:
    site = Site(feeds, entries)
    addresses = [host_for(i, hosts) for i in range(min(hosts, feeds))]
    server = await asyncio.start_server(
        lambda r, w: handle(site, r, w), host=addresses, port=port, backlog=1024
    )
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--feeds", type=int, default=2000)
    parser.add_argument("--hosts", type=int, default=100)
    parser.add_argument("--entries", type=int, default=20)
    parser.add_argument("--port", type=int, default=8900)
    args = parser.parse_args()
    asyncio.run(main(args.feeds, args.hosts, args.port, args.entries))
