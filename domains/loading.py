"""Finding the domain WEFT_DOMAIN names (`package.module:attribute`).

Settings call `domain_apps` before Django is set up (a domain's apps join INSTALLED_APPS only
while it is selected), so nothing here imports Django at module level.
"""

import importlib
import inspect
from functools import cache

DEFAULT_DOMAIN = "demo.domain:DEMO"


class DomainConfigError(Exception):
    """WEFT_DOMAIN names nothing usable; raised at start-up, with what to fix."""


@cache
def domain_at(spec: str):
    """The object `spec` names, checked to have what every domain needs."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise DomainConfigError(
            f"WEFT_DOMAIN={spec!r}: expected package.module:attribute, e.g. {DEFAULT_DOMAIN}"
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise DomainConfigError(
            f"WEFT_DOMAIN={spec!r}: cannot import {module_name}: {exc}"
        ) from exc
    try:
        domain = getattr(module, attribute)
    except AttributeError as exc:
        raise DomainConfigError(f"WEFT_DOMAIN={spec!r}: {module_name} has no {attribute}") from exc
    # getattr_static: a domain built lazily from settings (domains.http) must not be asked
    # for its values while settings.py is still running.
    missing = [
        name
        for name in ("name", "widgets_dir", "context", "run_action")
        if inspect.getattr_static(domain, name, None) is None
    ]
    if missing:
        raise DomainConfigError(
            f"WEFT_DOMAIN={spec!r} is not a domain: it lacks {', '.join(missing)} "
            "(domains/protocol.py)"
        )
    return domain


def domain_apps(spec: str) -> list[str]:
    """The Django apps the domain brings (its optional `apps`)."""
    apps = inspect.getattr_static(domain_at(spec), "apps", ())
    if isinstance(apps, str) or not all(isinstance(app, str) for app in apps):
        raise DomainConfigError(f"WEFT_DOMAIN={spec!r}: apps must be a list of app names")
    return list(apps)


def current_domain():
    """The selected domain (settings.WEFT_DOMAIN)."""
    from django.conf import settings

    return domain_at(settings.WEFT_DOMAIN)
