"""Publishing to the social networks and connecting members' accounts there.

`base` holds what every network shares (the HTTP-status -> outcome ladder, the
`Connector` protocol); `registry` says which package speaks for each network; `connect`
drives every network's sign-in and stores what it produced; `dryrun` stands in for all
of them. Each network is a folder with the same files: client, errors, publish, connect.
"""
