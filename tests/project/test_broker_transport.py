"""The embedded broker's transport (project/broker_transport.py): two processes that open a
new broker file at once must not crash the one that loses the race for the queue's row.

The races are made deterministic: while the first channel is about to insert the queue row
(or create the tables) it did not find, the other process does it first.
"""

import sqlite3
from contextlib import closing

import pytest
from kombu import Connection
from kombu.transport import sqlalchemy as kombu_sqla
from sqlalchemy.exc import IntegrityError, OperationalError

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


def _race_for_tables(url: str, monkeypatch) -> None:
    """Open a channel on a new broker file whose tables another process creates between
    this process's check and its CREATE TABLE."""
    create_all = kombu_sqla.metadata.create_all
    calls = []

    def rival_creates_first(engine, **options):
        calls.append(engine)
        if len(calls) == 1:
            create_all(engine)  # the other process, after our check found no tables
            create_all(engine, checkfirst=False)  # our CREATE TABLE, on the old check
        create_all(engine, **options)

    monkeypatch.setattr(kombu_sqla.metadata, "create_all", rival_creates_first)
    connection = Connection(url)
    try:
        connection.default_channel._new_queue("jobs")
    finally:
        connection.release()


def test_the_loser_of_the_race_uses_the_tables_the_winner_made(tmp_path, monkeypatch):
    register()
    url = f"{SCHEME}+sqlite:///{tmp_path / 'broker.sqlite3'}"
    _race_for_tables(url, monkeypatch)
    with closing(sqlite3.connect(tmp_path / "broker.sqlite3")) as broker:
        assert broker.execute("SELECT name FROM kombu_queue").fetchall() == [("jobs",)]


def test_kombus_own_transport_fails_the_race_for_tables(tmp_path, monkeypatch):
    with pytest.raises(OperationalError, match="already exists"):
        _race_for_tables(f"sqla+sqlite:///{tmp_path / 'broker.sqlite3'}", monkeypatch)
