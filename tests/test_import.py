import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlmodel import col, func, select

from tests.builders import posts, rss
from tests.fakenet.feeds import Feed as Served
from tests.fakenet.feeds import FeedServer
from tribe.cli import main
from tribe.core.kinds import Role
from tribe.infra.db import session_scope
from tribe.infra.models import Feed, Member, Membership, Tribe

pytestmark = pytest.mark.usefixtures("db")


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "tribe.csv"
    path.write_text(text, encoding="utf-8")
    return path


def counts() -> dict[str, int]:
    with session_scope() as s:
        return {
            model.__name__: s.exec(select(func.count()).select_from(model)).one()
            for model in (Member, Tribe, Membership, Feed)
        }


def test_an_import_creates_everything_once(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "email,name,feed_url,tribe\n"
        "alice@example.com,Alice,https://alice.example/feed/,gardeners\n"
        "bob@example.com,Bob,https://bob.example/rss.xml,gardeners\n"
        "Bob@example.com,Bob,https://bob.example/rss.xml,cooks\n"
        "carol@example.com,Carol,,cooks\n"
        "dave@example.com,Dave,https://dave.example/atom.xml,\n",
    )
    code, out = run("import", str(path))
    assert code == 0, out
    assert "5 rows: 4 new members, 2 new tribes, 4 new memberships, 3 new feeds" in out
    assert counts() == {"Member": 4, "Tribe": 2, "Membership": 4, "Feed": 3}
    with session_scope() as s:
        chiefs = dict(
            s.exec(
                select(Tribe.slug, Member.email).join(Member, col(Member.id) == col(Tribe.chief_id))
            ).all()
        )
        roles = s.exec(select(Membership.role).where(Membership.role == Role.CHIEF)).all()
    assert chiefs == {"gardeners": "alice@example.com", "cooks": "bob@example.com"}
    assert len(roles) == 2
    code, out = run("import", str(path))
    assert "0 new members, 0 new tribes, 0 new memberships, 0 new feeds" in out
    assert counts() == {"Member": 4, "Tribe": 2, "Membership": 4, "Feed": 3}
    code, out = run("feed", "list", "--json")
    assert {f["owner_email"] for f in json.loads(out)} == {
        "alice@example.com",
        "bob@example.com",
        "dave@example.com",
    }


def test_a_bad_file_imports_nothing_and_names_every_bad_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "email,name,feed_url,tribe\n"
        "alice@example.com,Alice,https://alice.example/feed/,gardeners\n"
        "not-an-email,Bob,,gardeners\n"
        "carol@example.com,,,gardeners\n"
        "dave@example.com,Dave,javascript:alert(1),gardeners\n"
        "erin@example.com,Erin,,Not A Slug\n",
    )
    code, out = run("import", str(path))
    assert code == 1
    assert "nothing was imported" in out
    assert "line 3: 'not-an-email' is not an email address" in out
    assert "line 4: the name must not be empty" in out
    assert "line 5: 'javascript:alert(1)' is not a web address" in out
    assert "line 6: 'Not A Slug' is not a tribe slug (use e.g. 'not-a-slug')" in out
    assert counts() == {"Member": 0, "Tribe": 0, "Membership": 0, "Feed": 0}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("email,name\nalice@example.com,Alice\n", "missing: feed_url, tribe"),
        (b"\xff\xfe\x00garbage", "is not UTF-8 text"),
    ],
)
def test_files_that_are_not_the_expected_csv(
    tmp_path: Path, content: str | bytes, message: str
) -> None:
    path = tmp_path / "x.csv"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    code, out = run("import", str(path))
    assert code == 1
    assert message in out


def test_a_missing_file(tmp_path: Path) -> None:
    code, out = run("import", str(tmp_path / "nope.csv"))
    assert code == 1
    assert "no such file" in out


def test_thousands_of_rows_in_bulk(tmp_path: Path) -> None:
    lines = ["email,name,feed_url,tribe"] + [
        f"m{i}@example.com,Member {i},https://blog{i}.example/feed,tribe-{i % 40}"
        for i in range(3000)
    ]
    code, out = run("import", str(write(tmp_path, "\n".join(lines) + "\n")))
    assert code == 0, out
    assert counts() == {"Member": 3000, "Tribe": 40, "Membership": 3000, "Feed": 3000}


def test_an_import_fetches_nothing(tmp_path: Path, server: FeedServer) -> None:
    server.routes["/feed.xml"] = Served(rss(posts(2)))
    path = write(
        tmp_path,
        f"email,name,feed_url,tribe\nalice@example.com,Alice,{server.url('/feed.xml')},t\n",
    )
    code, out = run("import", str(path))
    assert code == 0, out
    assert server.hits("/feed.xml") == 0  # the first poll validates it, not the import
    with session_scope() as s:
        (feed,) = s.exec(select(Feed)).all()
    assert feed.last_polled_at is None
