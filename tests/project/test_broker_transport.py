"""The embedded broker's transport (project/broker_transport.py): two processes that open a
new broker file at once must not crash the one that loses the race for the queue's row.

The race is made deterministic: while the first channel is about to insert the queue row it
did not find, a second connection (the other process) inserts it first.
"""

import pytest
from kombu import Connection
from sqlalchemy.exc import IntegrityError

from project.broker_transport import SCHEME, register


def _race_for_queue(url: str, monkeypatch) -> int:
    """Queue rows named "jobs" after the race."""
    first, rival = Connection(url), Connection(url)
    channel, rival_channel = first.default_channel, rival.default_channel
    add = channel.session.add

    def rival_inserts_first(obj):
        rival_channel._new_queue(obj.name)
        add(obj)

    monkeypatch.setattr(channel.session, "add", rival_inserts_first)
    channel._new_queue("jobs")
    rows = rival_channel.session.query(rival_channel.queue_cls).filter_by(name="jobs").count()
    first.release()
    rival.release()
    return rows


def test_the_loser_of_the_race_reads_the_queue_the_winner_made(tmp_path, monkeypatch):
    register()
    rows = _race_for_queue(f"{SCHEME}+sqlite:///{tmp_path / 'broker.sqlite3'}", monkeypatch)
    assert rows == 1


def test_kombus_own_transport_fails_the_same_race(tmp_path, monkeypatch):
    # What the wrapper is for: without it the worker stopped ("Unrecoverable error").
    with pytest.raises(IntegrityError):
        _race_for_queue(f"sqla+sqlite:///{tmp_path / 'broker.sqlite3'}", monkeypatch)
