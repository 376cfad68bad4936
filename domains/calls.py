"""The one way Weft calls a domain: whatever a domain raises or returns wrongly becomes a
DomainUnavailable whose message the user sees in the chat, and the chat goes on.

A context must be a JSON object that survives a round trip unchanged (it is stored with the
reply and replayed, trained and evaluated on as stored), and no larger than
WEFT_DOMAIN_MAX_CONTEXT_BYTES.
"""

import json
import logging
from collections.abc import Sequence

from django.conf import settings
from django.db import transaction

from domains.loading import current_domain
from domains.protocol import ActionRefused, DomainUnavailable

log = logging.getLogger(__name__)

MAX_OUTCOME = 2_000  # characters of an action's outcome sentence kept in the conversation


def _unavailable(domain, what: str) -> DomainUnavailable:
    return DomainUnavailable(f"{domain.name} {what}. Your message is kept: try again later.")


def turn_context(*, question: str, history: Sequence[str], user) -> dict:
    """The domain's records for this turn, checked; raises DomainUnavailable."""
    domain = current_domain()
    try:
        # A savepoint: a domain whose queries fail must not leave the chat's transaction broken.
        with transaction.atomic():
            context = domain.context(question=question, history=tuple(history), user=user)
    except DomainUnavailable:
        raise
    except Exception as exc:
        log.exception("domain %s: context() raised", domain.name)
        raise _unavailable(domain, "could not look up the records for this question") from exc
    if not isinstance(context, dict):
        log.error("domain %s: context() returned %s", domain.name, type(context).__name__)
        raise _unavailable(
            domain, f"answered with a {type(context).__name__} where records were expected"
        )
    try:
        encoded = json.dumps(context, ensure_ascii=False, allow_nan=False)
        same = json.loads(encoded) == context
    except (TypeError, ValueError, RecursionError) as exc:
        log.exception("domain %s: context() is not JSON", domain.name)
        raise _unavailable(domain, "answered with records that cannot be stored") from exc
    if not same:  # non-string keys, tuples: json would store something else than was returned
        raise _unavailable(domain, "answered with records that do not survive storage as JSON")
    if len(encoded.encode()) > settings.WEFT_DOMAIN_MAX_CONTEXT_BYTES:
        raise _unavailable(domain, "answered with more records than a turn can hold")
    return context


def run_action(*, action: str, params: dict, user) -> str:
    """Run a confirmed action; returns the outcome sentence. Raises ActionRefused (the domain
    declined: its message) or DomainUnavailable (it failed)."""
    domain = current_domain()
    try:
        with transaction.atomic():  # a failed action leaves nothing half-done
            outcome = domain.run_action(action=action, params=params, user=user)
    except (ActionRefused, DomainUnavailable):
        raise
    except Exception as exc:
        log.exception("domain %s: run_action(%s) raised", domain.name, action)
        raise DomainUnavailable(
            f"{domain.name} could not run {action}; nothing was confirmed. Try again later."
        ) from exc
    if not isinstance(outcome, str) or not outcome.strip():
        log.error("domain %s: run_action(%s) returned %r", domain.name, action, outcome)
        raise DomainUnavailable(
            f"{domain.name} ran {action} but did not say what it did; check there before "
            "trying again."
        )
    return outcome.strip()[:MAX_OUTCOME]
