"""Empty the notifications database (the shop's data reset: the mailbox starts empty).

`python -m microservices.notifications.seed [--schema]` runs it on DATABASE_URL
(plumbing.seedcli).
"""

from pathlib import Path

from plumbing.seedcli import main
from shopdata.seed import reseed as load


def reseed(dsn: str) -> None:
    """Empty the messages table, in one transaction.

    Message ids are NOT restarted: an id is the public Email's id, which a customer may
    have seen, and a sender still finishing a delivery from before the reset may store one
    more message; an id used again would name two different e-mails.
    """
    load(dsn, ("messages",), [], restart_ids=False)


if __name__ == "__main__":
    raise SystemExit(main(name="notifications", schema=Path(__file__).with_name("schema.sql"),
                          reseed=reseed))
