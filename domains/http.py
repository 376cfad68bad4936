"""The built-in domain for hosts not written in Python: `context` and `run_action` are signed
JSON POSTs to two URLs of the host (docs/http-domain.md is the host developer's side).

    WEFT_DOMAIN=domains.http:domain      configured by the WEFT_HTTP_DOMAIN_* settings

Every request carries `X-Weft-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>` over
`f"{t}."` + the body bytes; `sign` and `verify` are the two pure functions a host mirrors.

The host's answers:
- context: 2xx with a JSON object: the records, returned as they are.
- action: 2xx with {"outcome": "<sentence>"}: the sentence; 422 with {"refused": "<message>"}:
  ActionRefused(message), shown as it is.
- anything else: DomainUnavailable. The user reads a failure, ". ", then what became of the
  request; the technical detail goes to the log and the exception's `__cause__` (a
  HostFailure, itself caused by the socket or parser error when there is one).

  failure      when, then what the user reads ({name}: the domain's name)
  refused      nothing listens at the URL (the host is down)
               {name} is not answering (connection refused)
  unreachable  any other failure before the request was sent (DNS, TLS, network)
               {name} could not be reached
  broken       the connection ended after the request was sent, before a whole answer
               {name} closed the connection before answering
  timeout      no whole answer within timeout_s, connecting included
               {name} did not answer within {seconds} seconds
  rejected     HTTP 401 or 403 (the host could not verify the signature)
               {name} rejected the signature (HTTP {status}): an administrator must check the secret
  status       any other status but 2xx (an action's 422 only when it has no "refused" text)
               {name} answered with an error (HTTP {status})
  too_large    an answer longer than max_context_bytes (shown as {limit})
               {name} answered with more than {limit} bytes
  not_json     an answer that is not UTF-8 JSON
               {name} answered with something that is not JSON
  not_object   a context answer that is JSON but not an object
               {name} answered with JSON that is not an object
  no_outcome   an action answer without a non-empty string "outcome"
               {name} answered without an "outcome" sentence

  call               then the user reads
  context            Your message is kept: try again later.
  action not sent,   Nothing was done: try again later.
    or answered 4xx
  any other action   It may have run: check in {name} before trying again.
    failure (sent, then 5xx, timeout, broken, or an answer of the wrong size or shape)

  e.g. "host did not answer within 5 seconds. Your message is kept: try again later."
"""

import hashlib
import hmac
import http.client
import json
import logging
import socket
import ssl
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from domains.protocol import ActionRefused, DomainUnavailable

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Weft-Signature"
SIGNATURE_TOLERANCE_S = 300  # how old (or, for skewed clocks, how new) a signed request may be

# The first half of the user's message, by failure (the table above; docs/http-domain.md).
FAILURES = {
    "refused": "{name} is not answering (connection refused)",
    "unreachable": "{name} could not be reached",
    "broken": "{name} closed the connection before answering",
    "timeout": "{name} did not answer within {seconds} seconds",
    "rejected": (
        "{name} rejected the signature (HTTP {status}): an administrator must check the secret"
    ),
    "status": "{name} answered with an error (HTTP {status})",
    "too_large": "{name} answered with more than {limit} bytes",
    "not_json": "{name} answered with something that is not JSON",
    "not_object": "{name} answered with JSON that is not an object",
    "no_outcome": '{name} answered without an "outcome" sentence',
}
# The second half: what became of the user's request.
AFTERMATH = {
    "context": "Your message is kept: try again later.",
    "not_run": "Nothing was done: try again later.",
    "may_have_run": "It may have run: check in {name} before trying again.",
}

_CHUNK = 64 * 1024  # bytes asked of the socket per read; the clock is checked between reads
_EXCERPT = 200  # bytes of an unusable answer quoted in the log


# --- Signing: what a host mirrors to check that a request comes from this Weft ------------


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The X-Weft-Signature value for `body` sent at `timestamp` (unix seconds)."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def verify(
    secret: str,
    body: bytes,
    header: str,
    *,
    now: float,
    tolerance_s: float = SIGNATURE_TOLERANCE_S,
) -> bool:
    """Whether `header` signs `body` with `secret` within `tolerance_s` of `now`.

    The timestamp is inside the signed bytes, so checking it is what stops a replay.
    """
    fields: dict[str, list[str]] = {}
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        fields.setdefault(key, []).append(value)
    try:
        (timestamp,) = (int(value) for value in fields.get("t", []))
    except ValueError:  # no t, several, or not a number
        return False
    if abs(now - timestamp) > tolerance_s:
        return False
    expected = sign(secret, body, timestamp).partition(",v1=")[2].encode()
    # Bytes, because compare_digest raises on text that is not ASCII. Any v1 may match, as in
    # Stripe's scheme, so that a later Weft may sign with two secrets while one is rotated.
    return any(hmac.compare_digest(expected, v1.encode()) for v1 in fields.get("v1", []))


# --- Talking to the host ------------------------------------------------------------------


class HostFailure(Exception):
    """What went wrong with the host, in technical terms: the `__cause__` of the
    DomainUnavailable the user sees. `kind` is a key of FAILURES."""

    def __init__(self, kind: str, detail: str, *, sent: bool, status: int | None = None):
        super().__init__(detail)
        self.kind = kind
        self.sent = sent  # whether the host may have received the whole request
        self.status = status


@dataclass(frozen=True)
class _Endpoint:
    url: str
    https: bool
    host: str
    port: int | None
    target: str  # what the request line asks for: path and query

    @classmethod
    def parse(cls, parameter: str, url: str) -> "_Endpoint":
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{parameter} must be an http:// or https:// URL, not {url!r}")
        try:
            port = parts.port
        except ValueError as exc:
            raise ValueError(f"{parameter} has a bad port: {url!r}") from exc
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return cls(url, parts.scheme == "https", parts.hostname, port, target)


@dataclass(frozen=True)
class _Answer:
    status: int
    reason: str
    body: bytes  # at most the limit + 1 bytes
    too_large: bool  # the host had more to say than the limit

    def excerpt(self) -> str:
        return repr(self.body[:_EXCERPT])


class _Deadline:
    """A time limit on a whole exchange, connecting included, rather than on each read.

    Socket timeouts bound one read at a time, so a host that sends a byte every second never
    trips them. When time is up a timer shuts the connection's socket down: whatever read is
    waiting wakes with an end of stream or an error, and `passed` says why.
    """

    def __init__(self, seconds: float, connection: http.client.HTTPConnection):
        self._ends_at = time.monotonic() + seconds
        self._connection = connection
        self._socket: socket.socket | None = None
        self._expired = False
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> "_Deadline":
        self._timer.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._timer.cancel()

    def watch(self, sock: socket.socket) -> None:
        # Kept here because http.client forgets the connection's socket once an answer that
        # ends with the connection starts.
        self._socket = sock

    @property
    def passed(self) -> bool:
        return self._expired or time.monotonic() >= self._ends_at

    def _expire(self) -> None:
        self._expired = True
        sock = self._socket or self._connection.sock
        if sock is None:  # still resolving or connecting: the connect timeout bounds that
            return
        try:
            # The plain socket's shutdown: SSLSocket.shutdown would also take its SSL state
            # away from under the thread reading with it.
            socket.socket.shutdown(sock, socket.SHUT_RDWR)
        except OSError:
            pass  # closed already: the exchange ended as the timer fired


def _read_at_most(response: http.client.HTTPResponse, limit: int, deadline: _Deadline) -> bytes:
    """The body, or its first limit + 1 bytes when it is longer: never more."""
    chunks, size = [], 0
    while size <= limit:
        if deadline.passed:
            raise TimeoutError("the deadline passed while the answer was being read")
        chunk = response.read1(min(_CHUNK, limit + 1 - size))  # one socket read at most
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    if deadline.passed:  # the timer cut the body short
        raise TimeoutError("the deadline passed while the answer was being read")
    body = b"".join(chunks)
    if size <= limit and response.length:  # http.client reads a cut-off body as the end
        raise http.client.IncompleteRead(body, response.length)
    return body


def _user_json(user) -> dict[str, Any] | None:
    if user is None:
        return None
    pk = user.pk
    # A UUID or other key a JSON encoder does not know travels as its text.
    return {"id": pk if isinstance(pk, int | str) else str(pk), "username": user.get_username()}


def _parse_json(body: bytes) -> Any:
    def reject(constant: str):
        raise ValueError(f"{constant} is not JSON")

    return json.loads(body, parse_constant=reject)


class HttpDomain:
    """A domain whose records and actions live behind two URLs of the host."""

    def __init__(
        self,
        *,
        name: str,
        context_url: str,
        action_url: str,
        secret: str,
        widgets_dir: Path,
        timeout_s: float = 5.0,  # seconds for a whole exchange: connect, send, read the answer
        max_context_bytes: int = 256 * 1024,  # of an answer's body; longer ones are refused
    ):
        if not name:
            raise ValueError("name must not be empty: users read it in error messages")
        if not secret:
            raise ValueError("secret must not be empty: every request is signed with it")
        if not timeout_s > 0:
            raise ValueError(f"timeout_s must be more than 0, not {timeout_s!r}")
        if max_context_bytes < 1:
            raise ValueError(f"max_context_bytes must be at least 1, not {max_context_bytes!r}")
        self.name = name
        self.widgets_dir = Path(widgets_dir)
        self.timeout_s = timeout_s
        self.max_context_bytes = max_context_bytes
        self._context_endpoint = _Endpoint.parse("context_url", context_url)
        self._action_endpoint = _Endpoint.parse("action_url", action_url)
        self._secret = secret

    def __repr__(self) -> str:  # without the secret
        return f"<HttpDomain {self.name!r} {self._context_endpoint.url}>"

    def context(self, *, question: str, history: Sequence[str], user) -> dict[str, Any]:
        payload = {"question": question, "history": list(history), "user": _user_json(user)}
        try:
            answer = self._exchange(self._context_endpoint, payload)
            return self._records(answer)
        except HostFailure as failure:
            raise self._unavailable(failure, self._context_endpoint, action=False) from failure

    def run_action(self, *, action: str, params: dict[str, Any], user) -> str:
        payload = {"action": action, "params": params, "user": _user_json(user)}
        try:
            answer = self._exchange(self._action_endpoint, payload)
            return self._outcome(answer)
        except HostFailure as failure:
            raise self._unavailable(failure, self._action_endpoint, action=True) from failure

    # --- reading answers

    def _records(self, answer: _Answer) -> dict[str, Any]:
        value = self._json_object(answer)
        if not isinstance(value, dict):
            detail = f"a JSON {type(value).__name__}, not an object: {answer.excerpt()}"
            raise HostFailure("not_object", detail, sent=True, status=answer.status)
        return value

    def _outcome(self, answer: _Answer) -> str:
        if answer.status == 422 and not answer.too_large:
            try:
                value = _parse_json(answer.body)
            except (ValueError, RecursionError):
                value = None
            refused = value.get("refused") if isinstance(value, dict) else None
            if isinstance(refused, str) and refused.strip():
                raise ActionRefused(refused.strip())
        value = self._json_object(answer)
        outcome = value.get("outcome") if isinstance(value, dict) else None
        if not isinstance(outcome, str) or not outcome.strip():
            detail = f'no string "outcome": {answer.excerpt()}'
            raise HostFailure("no_outcome", detail, sent=True, status=answer.status)
        return outcome.strip()

    def _json_object(self, answer: _Answer) -> Any:
        """The JSON of a 2xx answer of an allowed size; HostFailure for anything else."""
        if not 200 <= answer.status < 300:
            kind = "rejected" if answer.status in (401, 403) else "status"
            detail = f"HTTP {answer.status} {answer.reason}: {answer.excerpt()}"
            raise HostFailure(kind, detail, sent=True, status=answer.status)
        if answer.too_large:
            detail = f"the body is longer than {self.max_context_bytes} bytes"
            raise HostFailure("too_large", detail, sent=True, status=answer.status)
        try:
            return _parse_json(answer.body)
        except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
            detail = f"not JSON ({exc}): {answer.excerpt()}"
            raise HostFailure("not_json", detail, sent=True, status=answer.status) from exc

    def _unavailable(
        self, failure: HostFailure, endpoint: _Endpoint, *, action: bool
    ) -> DomainUnavailable:
        if not action:
            aftermath = "context"
        elif not failure.sent or (failure.status is not None and 400 <= failure.status < 500):
            aftermath = "not_run"  # the contract: a host answers 4xx only when it did nothing
        else:
            aftermath = "may_have_run"
        log.warning(
            "http domain %s: POST %s: %s: %s", self.name, endpoint.url, failure.kind, failure
        )
        message = f"{FAILURES[failure.kind]}. {AFTERMATH[aftermath]}"
        return DomainUnavailable(
            message.format(
                name=self.name,
                seconds=f"{self.timeout_s:g}",
                status=failure.status,
                limit=f"{self.max_context_bytes:,}",
            )
        )

    # --- the exchange

    def _exchange(self, endpoint: _Endpoint, payload: dict[str, Any]) -> _Answer:
        """POST `payload`, signed; the answer, read within the deadline and the size limit.

        Proxies (HTTP_PROXY) are not used: http.client connects to the host directly.
        """
        body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        body_bytes = body.encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "weft",
            SIGNATURE_HEADER: sign(self._secret, body_bytes, int(time.time())),
        }
        if endpoint.https:
            connection: http.client.HTTPConnection = http.client.HTTPSConnection(
                endpoint.host,
                endpoint.port,
                timeout=self.timeout_s,
                context=ssl.create_default_context(),
            )
        else:
            connection = http.client.HTTPConnection(
                endpoint.host, endpoint.port, timeout=self.timeout_s
            )
        sent = False
        with _Deadline(self.timeout_s, connection) as deadline:
            try:
                connection.connect()
                deadline.watch(connection.sock)
                connection.request("POST", endpoint.target, body=body_bytes, headers=headers)
                sent = True
                response = connection.getresponse()
                data = _read_at_most(response, self.max_context_bytes, deadline)
            except ConnectionRefusedError as exc:
                raise HostFailure("refused", f"connection refused: {exc}", sent=False) from exc
            except (OSError, http.client.HTTPException) as exc:
                if deadline.passed or isinstance(exc, TimeoutError):
                    detail = f"no complete answer within {self.timeout_s:g} s ({exc!r})"
                    raise HostFailure("timeout", detail, sent=sent) from exc
                kind = "broken" if sent else "unreachable"
                raise HostFailure(kind, repr(exc), sent=sent) from exc
            finally:
                connection.close()
        return _Answer(
            response.status, response.reason, data, too_large=len(data) > self.max_context_bytes
        )


# --- The domain WEFT_DOMAIN=domains.http:domain names --------------------------------------


def _domain_from_settings() -> HttpDomain:
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured

    def required(setting: str, what: str) -> str:
        value = getattr(settings, setting, "")
        if not value:
            raise ImproperlyConfigured(
                f"{setting} is not set: WEFT_DOMAIN=domains.http:domain needs {what} "
                "(docs/http-domain.md)."
            )
        return value

    try:
        return HttpDomain(
            name=getattr(settings, "WEFT_HTTP_DOMAIN_NAME", "host"),
            context_url=required("WEFT_HTTP_DOMAIN_CONTEXT_URL", "the host's URL for records"),
            action_url=required("WEFT_HTTP_DOMAIN_ACTION_URL", "the host's URL for actions"),
            secret=required("WEFT_HTTP_DOMAIN_SECRET", "the secret requests are signed with"),
            widgets_dir=Path(
                required("WEFT_HTTP_DOMAIN_WIDGETS_DIR", "the folder of the host's widgets")
            ),
            timeout_s=float(getattr(settings, "WEFT_HTTP_DOMAIN_TIMEOUT_S", 5)),
            max_context_bytes=int(getattr(settings, "WEFT_HTTP_DOMAIN_MAX_CONTEXT_BYTES", 262144)),
        )
    except ValueError as exc:
        raise ImproperlyConfigured(f"The WEFT_HTTP_DOMAIN_* settings are wrong: {exc}") from exc


class HttpDomainFromSettings:
    """The HttpDomain the WEFT_HTTP_DOMAIN_* settings describe, built when first used (this
    module is imported while settings load, so it cannot read them then; domains.loading
    checks this object's attributes without running them).
    """

    def __init__(self):
        self._domain: HttpDomain | None = None

    def _built(self) -> HttpDomain:
        # Two threads may both build it on first use; the same settings give the same domain.
        if self._domain is None:
            self._domain = _domain_from_settings()
        return self._domain

    @property
    def name(self) -> str:
        return self._built().name

    @property
    def widgets_dir(self) -> Path:
        return self._built().widgets_dir

    def context(self, *, question: str, history: Sequence[str], user) -> dict[str, Any]:
        return self._built().context(question=question, history=history, user=user)

    def run_action(self, *, action: str, params: dict[str, Any], user) -> str:
        return self._built().run_action(action=action, params=params, user=user)


domain = HttpDomainFromSettings()
