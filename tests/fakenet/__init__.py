"""Local servers that play the outside world: the bloggers' feeds (`feeds`), X, Mastodon
and Bluesky (`x`, `mastodon`, `bluesky`), all on the machinery of `common` (one server
class, one fault vocabulary, one request log), and a mail server (`mailbox`)."""
