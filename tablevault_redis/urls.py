"""Redis URLs: which forms are accepted, how they are checked and how they are shown.

Accepted forms (docs/deployment.md):

- ``redis://``, ``rediss://`` and ``unix://``, as redis-py reads them;
- ``redis+sentinel://[user:password@]host:port[,host:port...]/<service>[/<db>]``
  (``rediss+sentinel://`` for TLS): the listed Sentinels name the current primary
  of ``<service>``. The credentials in the URL are those of the data nodes; the
  Sentinels' own are given as ``?sentinel_username=`` and ``?sentinel_password=``
  (no credentials are sent to Sentinels without them).

A URL is checked before anything connects, so a typo gives one
:class:`ValidationError` naming the URL rather than a client traceback. Passwords,
in the user-info part or in the query string (any parameter whose name contains
``password``), never leave this module in clear: :func:`redact` masks them and
:func:`scrub` removes them from any text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from redis.connection import URL_QUERY_ARGUMENT_PARSERS, parse_url

from .errors import ValidationError

PLAIN_SCHEMES = ("redis", "rediss", "unix")
SENTINEL_SCHEMES = ("redis+sentinel", "rediss+sentinel")
DEFAULT_SENTINEL_PORT = 26379
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_SECRET_PARAM = re.compile(r"(^|[?&])([^=&#]*password[^=&#]*)=([^&#]*)", re.IGNORECASE)


def scheme(url: str) -> str:
    """The URL's scheme, lower case; ``""`` when it has none."""
    match = _SCHEME.match(url)
    return match.group(1).lower() if match else ""


def _split_userinfo(url: str) -> tuple[str, str, str]:
    """``(prefix, userinfo, rest)`` with ``prefix + userinfo + "@" + rest == url``;
    userinfo is ``""`` (and no ``@``) when the URL has none. The last ``@`` before
    the query ends the user info, as in the URL parser redis-py uses."""
    match = _SCHEME.match(url)
    start = match.end() if match else 0
    query = url.find("?", start)
    at = url.rfind("@", start, query if query >= 0 else len(url))
    if at < 0:
        return url[:start], "", url[start:]
    return url[:start], url[start:at], url[at + 1 :]


def redact(url: str) -> str:
    """The URL with every password (user info and query string) replaced by ``***``."""
    prefix, userinfo, rest = _split_userinfo(url)
    if userinfo:
        user, sep, _ = userinfo.partition(":")
        rest = f"{user}{':***' if sep else ''}@{rest}"
    return prefix + _SECRET_PARAM.sub(lambda m: f"{m.group(1)}{m.group(2)}=***", rest)


def secrets(url: str) -> list[str]:
    """The passwords written in ``url``, as written and decoded, longest first."""
    _, userinfo, rest = _split_userinfo(url)
    found = []
    if ":" in userinfo:
        found.append(userinfo.partition(":")[2])
    found += [m.group(3) for m in _SECRET_PARAM.finditer(rest)]
    both = {s for s in found if s} | {unquote(s) for s in found if s}
    return sorted(both, key=len, reverse=True)


def scrub(text: str, url: str) -> str:
    """``text`` with the URL's passwords masked (for errors quoting a client's message)."""
    for secret in secrets(url):
        text = text.replace(secret, "***")
    return text


def _malformed(url: str, why: str) -> ValidationError:
    return ValidationError(f"malformed Redis URL {redact(url)!r}: {scrub(why, url)}")


def check_url(url: str) -> None:
    """Refuse, with a :class:`ValidationError` naming the URL, a URL redis-py would
    reject or silently misread (a port or database that is not a number)."""
    kind = scheme(url)
    if kind in SENTINEL_SCHEMES:
        parse_sentinel_url(url)
        return
    if kind not in PLAIN_SCHEMES:
        raise ValidationError(
            f"unsupported Redis URL {redact(url)!r}: use redis://, rediss:// or unix:// "
            "(or redis+sentinel:// / rediss+sentinel:// for Sentinel)"
        )
    try:
        parts = urlsplit(url)
        _ = parts.port  # ValueError when not a number in 0-65535
        parse_url(url)
    except ValueError as e:
        raise _malformed(url, str(e)) from None
    path = unquote(parts.path).strip("/")
    if kind != "unix" and path and not path.isdigit():
        raise _malformed(url, f"the database must be a number, got {path!r}")


@dataclass
class SentinelURL:
    """A ``redis+sentinel://`` URL taken apart; ``options`` go to every data-node
    connection (redis-py keyword arguments from the query string)."""

    sentinels: list[tuple[str, int]]
    service: str
    db: int = 0
    tls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    sentinel_username: str | None = None
    sentinel_password: str | None = field(default=None, repr=False)
    options: dict[str, Any] = field(default_factory=dict)


def _host_port(url: str, text: str) -> tuple[str, int]:
    """One ``host[:port]`` (``[v6]:port`` too) of a Sentinel URL."""
    host, port = text, ""
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise _malformed(url, f"unclosed '[' in {text!r}")
        host, port = text[1:end], text[end + 1 :].removeprefix(":")
    elif ":" in text:
        host, _, port = text.rpartition(":")
    if not host:
        raise _malformed(url, f"no host in {text!r}")
    if not port:
        return host, DEFAULT_SENTINEL_PORT
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise _malformed(url, f"port {port!r} of {host} is not a number in 1-65535")
    return host, int(port)


def _query_options(url: str, query: str) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        parser: Any = URL_QUERY_ARGUMENT_PARSERS.get(name)
        try:
            options[name] = parser(value) if parser else value
        except (TypeError, ValueError):
            raise _malformed(url, f"invalid value for {name!r}") from None
    return options


def parse_sentinel_url(url: str) -> SentinelURL:
    """Take a ``redis+sentinel://`` or ``rediss+sentinel://`` URL apart."""
    prefix, userinfo, rest = _split_userinfo(url)
    rest, _, query = rest.partition("?")
    rest = rest.partition("#")[0]
    hosts, _, path = rest.partition("/")
    sentinels = [_host_port(url, h) for h in hosts.split(",") if h.strip()]
    if not sentinels:
        raise _malformed(url, "no Sentinel host:port before the service name")
    segments = [unquote(s) for s in path.split("/") if s]
    if not segments or len(segments) > 2:
        raise _malformed(url, "the path must be /<service> or /<service>/<db>")
    if len(segments) == 2 and not segments[1].isdigit():
        raise _malformed(url, f"the database must be a number, got {segments[1]!r}")
    options = _query_options(url, query)
    user, sep, password = userinfo.partition(":")
    query_user, query_password = options.pop("username", None), options.pop("password", None)
    return SentinelURL(
        sentinels=sentinels,
        service=segments[0],
        db=int(segments[1]) if len(segments) == 2 else int(options.pop("db", 0)),
        tls=prefix.lower().startswith("rediss+"),
        username=unquote(user) or query_user or None,
        password=unquote(password) if sep else query_password,
        sentinel_username=options.pop("sentinel_username", None) or None,
        sentinel_password=options.pop("sentinel_password", None) or None,
        options=options,
    )
