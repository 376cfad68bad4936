"""kombu's SQLAlchemy transport, safe when two processes start on one new broker file.

The embedded broker (project.broker) is a SQLite file that the web process and the worker
both open. kombu guards the creation of its tables and of a queue's row with a lock that
only holds within one process, so when both start at once one of them loses the race: the
table is "already" there, or the queue name breaks a UNIQUE constraint, and a worker that
loses it stops with "Unrecoverable error". Here the loser reads what the winner made.
"""

from kombu.transport import TRANSPORT_ALIASES
from kombu.transport import sqlalchemy as kombu_sqla
from sqlalchemy.exc import IntegrityError, OperationalError

SCHEME = "weftsqla"  # broker URLs "weftsqla+sqlite:///PATH" use this transport


class Channel(kombu_sqla.Channel):
    def _open(self):
        try:
            return super()._open()
        except OperationalError:
            # Another process created the tables between the check and the CREATE; a second
            # try finds them. Any other operational error fails the same way again.
            return super()._open()

    def _get_or_create(self, queue):
        try:
            return super()._get_or_create(queue)
        except IntegrityError:
            self.session.rollback()
            return self.session.query(self.queue_cls).filter(self.queue_cls.name == queue).one()


class Transport(kombu_sqla.Transport):
    Channel = Channel


def register() -> None:
    TRANSPORT_ALIASES.setdefault(SCHEME, f"{__name__}:Transport")
