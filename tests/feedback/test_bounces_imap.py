"""``newsletter bounces process imap`` against a real IMAP server: Dovecot on loopback, started
per test from a throw-away configuration (``scripts/test`` installs Debian's dovecot-imapd)."""

from __future__ import annotations

import getpass
import imaplib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from newsletter.errors import InputError, WorkError
from newsletter.feedback.bounce_run import process_mailbox
from newsletter.feedback.mailboxes import KEYWORD, ImapMailbox, open_mailbox
from newsletter.models import SubscriberStatus, SuppressionReason
from tests.helpers.bounces import POLICY, sample, seed, standing
from tests.helpers.env import NOW, free_port

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
PASSWORD = "imap-test-secret"


@pytest.fixture
def imap_port() -> Iterator[int]:
    if not Path(DOVECOT).exists():
        pytest.fail(f"no Dovecot at {DOVECOT} (scripts/test installs Debian's dovecot-imapd)")
    # Not under pytest's tmp_path: Dovecot drops to an unprivileged user, who must reach it.
    root = Path(tempfile.mkdtemp(prefix="newsletter-dovecot-"))
    root.chmod(0o755)
    (root / "home").mkdir()
    port = free_port()
    if os.getuid() == 0:
        user = "uid=nobody gid=nogroup"
        shutil.chown(root / "home", "nobody", "nogroup")
        internal = ""
    else:  # an unprivileged run: everything as ourselves
        user = f"uid={os.getuid()} gid={os.getgid()}"
        me = getpass.getuser()
        internal = f"default_internal_user = {me}\ndefault_login_user = {me}\n"
    config = root / "dovecot.conf"
    config.write_text(
        f"""base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
first_valid_uid = 1
{internal}passdb {{
  driver = static
  args = password={PASSWORD}
}}
userdb {{
  driver = static
  args = {user} home={root}/home/%u
}}
mail_location = maildir:~/Maildir
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
""",
        encoding="utf-8",
    )
    # no pipes: the daemon's children would hold them open and run() would wait forever
    subprocess.run(
        [DOVECOT, "-c", str(config)],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                imaplib.IMAP4("127.0.0.1", port).logout()
                break
            except OSError:
                time.sleep(0.05)
        yield port
    finally:
        subprocess.run(
            [DOVECOT, "-c", str(config), "stop"],
            check=False,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        shutil.rmtree(root, ignore_errors=True)


def _append(port: int, names: list[str], *, create: bool = True) -> None:
    imap = imaplib.IMAP4("127.0.0.1", port)
    imap.login("bounces", PASSWORD)
    if create:
        imap.create("Bounces")
    for name in names:
        raw = sample(name).replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        assert imap.append("Bounces", None, None, raw)[0] == "OK"
    imap.logout()


def test_reports_in_an_imap_mailbox_are_applied_once(
    factory: sessionmaker[Session], imap_port: int, tmp_path: Path
) -> None:
    seed(factory)
    _append(
        imap_port,
        [
            "01-postfix-user-unknown.eml",
            "07-yahoo-arf-abuse-full-original.eml",
            "12-out-of-office-auto-reply.eml",
        ],
    )
    url = f"imap://bounces:{PASSWORD}@127.0.0.1:{imap_port}/Bounces"
    box = open_mailbox("imap", url)
    try:
        run = process_mailbox(factory, box, POLICY, tmp_path / "aside", NOW)
    finally:
        box.close()
    assert run.counts == {"hard": 1, "complaint": 1, "unparsable": 1}
    assert standing(factory, 42) == (SubscriberStatus.BOUNCED, SuppressionReason.HARD_BOUNCE)
    assert standing(factory, 48) == (SubscriberStatus.COMPLAINED, SuppressionReason.COMPLAINT)
    # every message was flagged after its commit; someone reading the folder in a mail
    # client (which sets \Seen, or clears it) changes nothing: the next run fetches nothing
    imap = imaplib.IMAP4("127.0.0.1", imap_port)
    imap.login("bounces", PASSWORD)
    imap.select("Bounces")
    assert imap.uid("SEARCH", f"KEYWORD {KEYWORD}")[1][0].split() == [b"1", b"2", b"3"]
    imap.uid("STORE", "1:*", "-FLAGS", "(\\Seen)")
    imap.logout()
    again = ImapMailbox(url)
    try:
        assert list(again) == []
    finally:
        again.close()
    # a new report in the folder is the only thing the next run reads
    _append(imap_port, ["02-exim-user-unknown-full-original.eml"], create=False)
    box = open_mailbox("imap", url)
    try:
        run = process_mailbox(factory, box, POLICY, tmp_path / "aside", NOW)
    finally:
        box.close()
    assert run.counts == {"hard": 1}


def test_delete_empties_the_imap_folder(
    factory: sessionmaker[Session], imap_port: int, tmp_path: Path
) -> None:
    seed(factory)
    _append(imap_port, ["01-postfix-user-unknown.eml", "11-garbage-truncated-mime.eml"])
    url = f"imap://bounces:{PASSWORD}@127.0.0.1:{imap_port}/Bounces"
    box = open_mailbox("imap", url, delete=True)
    try:
        run = process_mailbox(factory, box, POLICY, tmp_path / "aside", NOW)
    finally:
        box.close()
    assert run.counts == {"hard": 1, "unparsable": 1}
    imap = imaplib.IMAP4("127.0.0.1", imap_port)
    imap.login("bounces", PASSWORD)
    assert imap.select("Bounces")[1] == [b"0"]  # nothing left
    imap.logout()
    assert len(list((tmp_path / "aside").glob("*.eml"))) == 1  # the garbage, kept aside


def test_imap_errors_are_named(imap_port: int) -> None:
    with pytest.raises(
        WorkError, match=r"imap://127\.0\.0\.1/INBOX: .*(AUTHENTICATIONFAILED|failed)"
    ):
        ImapMailbox(f"imap://bounces:wrong@127.0.0.1:{imap_port}/INBOX")
    with pytest.raises(InputError, match="no such IMAP mailbox"):
        ImapMailbox(f"imap://bounces:{PASSWORD}@127.0.0.1:{imap_port}/Nope")
    box = ImapMailbox(f"imap://bounces:{PASSWORD}@127.0.0.1:{imap_port}/")
    box.close()
    assert PASSWORD not in box.name
    with pytest.raises(WorkError, match="cannot connect"):
        ImapMailbox(f"imap://bounces:x@127.0.0.1:{free_port()}/")


def test_a_huge_imap_message_is_fetched_only_up_to_the_limit(
    factory: sessionmaker[Session], imap_port: int, tmp_path: Path
) -> None:
    """A 5 MB message in the folder: a partial fetch (RFC 3501 BODY.PEEK[]<0.n>) brings
    limit + 1 bytes, never the whole message; it is recorded as too large, and the genuine
    report beside it is applied."""
    seed(factory)
    _append(imap_port, ["01-postfix-user-unknown.eml"])
    imap = imaplib.IMAP4("127.0.0.1", imap_port)
    imap.login("bounces", PASSWORD)
    huge = b"From: someone@example.com\r\nSubject: big\r\n\r\n" + b"A" * (5 * 1024 * 1024)
    assert imap.append("Bounces", None, None, huge)[0] == "OK"
    imap.logout()
    url = f"imap://bounces:{PASSWORD}@127.0.0.1:{imap_port}/Bounces"
    box = open_mailbox("imap", url, limit=64 * 1024)
    try:
        sizes = sorted(len(raw) for _uid, raw in box)
    finally:
        box.close()
    assert sizes[-1] == 64 * 1024 + 1 and sizes[0] < 64 * 1024
    box = open_mailbox("imap", url, limit=64 * 1024)
    policy = replace(POLICY, max_bytes=64 * 1024)
    try:
        run = process_mailbox(factory, box, policy, tmp_path / "aside", NOW)
    finally:
        box.close()
    assert run.counts == {"hard": 1, "unparsable": 1}
