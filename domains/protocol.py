"""The contract between Weft and the product it runs inside (a "domain").

A domain is any object with these attributes; WEFT_DOMAIN names it as
`package.module:attribute`. The module is imported while settings load (so that a domain's
Django apps can be installed), so it must not import Django models at module level: import
them inside the methods.

Users see two kinds of failure, both as a message in the chat:
- ActionRefused: the domain declines a confirmed action ("that slot is taken"). Raise it from
  run_action with a message written for the user; the action card shows it as failed.
- anything else a domain raises or returns wrongly is caught by `domains.calls` and shown as
  "the assistant could not reach <name>", never as a broken chat.
"""

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable


class ActionRefused(Exception):
    """A domain declines to run an action; the message is shown to the user as it is."""


class DomainUnavailable(Exception):
    """The domain failed (raised, timed out, answered nonsense); the message is for the user."""


@runtime_checkable
class Domain(Protocol):
    name: str
    # A folder of registry files (the `manage.py widgets export` format), read by
    # `manage.py load_domain`. Widget types marked "action" there are the domain's actions.
    widgets_dir: Path

    def context(self, *, question: str, history: Sequence[str], user) -> dict[str, Any]:
        """The records a turn may show (../shared/spec/datasets.md, `context`): a JSON object.

        `history` is the conversation's earlier messages, oldest first (user and assistant
        alternating); `user` is the Django user asking. Stored with the reply exactly as
        returned, so the turn can be replayed, evaluated and trained on.

        When `user` may run only some of the domain's actions, include `actions`: the list of
        the action names they may run (absent means all). The grammar offers an action card
        only with those; run_action still refuses the others.
        """
        ...

    def run_action(self, *, action: str, params: dict[str, Any], user) -> str:
        """Run a confirmed action card; return the sentence recorded in the conversation.

        Raise ActionRefused with a message for the user to decline.
        """
        ...


# Optional attributes a domain may have (read with getattr; none is required):
#   apps: Sequence[str]          Django apps it brings (models, migrations, commands);
#                                installed only while this domain is selected.
#   load_fixtures(*, author) -> dict[str, int]
#                                fill its demo records; returns counts for the log.
#   demo_conversations() -> Iterable[dict]
#                                dataset rows (../shared/spec/datasets.md) for
#                                `manage.py make_demo_dataset`.
OPTIONAL_ATTRIBUTES = ("apps", "load_fixtures", "demo_conversations")
