"""Every Redis key and channel name tablevault-redis uses, built in one place.

All keys of one process share the hash tag ``{<ns>:<name>}``, so every Lua script
that touches one process runs on one Redis Cluster node. Keys that span the whole
namespace share the tag ``{<ns>}``. Names are validated (see :func:`check_name`)
so that they cannot break a tag.

Per process ``<name>`` in namespace ``<ns>``:

=============================  ===========  =========================================
key                            type         holds
=============================  ===========  =========================================
``<ns>:{<ns>:<name>}:proc``     hash         the process record: ``name user_id
                                             execution_type host host_id pid
                                             pid_started_at started_at ended_at status
                                             parent_process_name parent_process_index
                                             interrupt_action interrupt_request
                                             interrupt_requested_at request_seq
                                             paused_at paused_seq stopped_by stopped_at run
                                             last_request_id last_request_seq
                                             code_count code_length open_code error
                                             heartbeat_token heartbeat_interval
                                             heartbeat_ttl heartbeat_at listener_at
                                             records_written last_record
                                             last_record_list last_record_at epoch
                                             gap_from gap_to gaps``
                                             (plain strings; times are seconds since
                                             the epoch). ``records_written`` counts
                                             this run's appends; ``last_record`` is
                                             its latest record's JSON, cut to 200
                                             characters. ``epoch``: random id of the
                                             generation ``request_seq`` counts in,
                                             new when the run found its request
                                             state lost or reset. ``gap_*``: the
                                             latest stretch the live run was out of
                                             reach and came back from (``revive``),
                                             and how many
``<ns>:{<ns>:<name>}:code``     stream       code item events: ``event=open`` with
                                             ``index run text start_position
                                             started_at``, ``event=close`` with ``index
                                             status error ended_at``, ``event=status``
                                             with ``status`` (restored | revived)
                                             ``index gap_from gap_to``
``<ns>:{<ns>:<name>}:request``  string       the pending interrupt request, JSON
                                             ``{"seq", "action", "by", "at", "epoch"}``;
                                             absent when none is pending; read as
                                             absent unless well formed
``<ns>:{<ns>:<name>}:requests`` list         request history, newest first, the last
                                             100: JSON ``{"event", "seq", "by", "at",
                                             "run"}``, event ``request`` or
                                             ``withdraw`` (with ``action``), or what the
                                             target did: ``paused``, ``running``,
                                             ``stopping``, ``stop_consumed``
``<ns>:{<ns>:<name>}:alive``    string, TTL  heartbeat: the run's token ``<host>:<pid>:
                                             <random>``; expires
                                             ``heartbeat_ttl`` seconds after the last beat
``<ns>:{<ns>:<name>}:runs``     list         JSON snapshots of earlier runs' records
``<ns>:{<ns>:<name>}:children`` sorted set   names of child processes, by start time
``<ns>:{<ns>:<name>}:ctl``      channel      notifications: JSON ``{"seq", "action",
                                             "by", "epoch"}`` with action ``stop``,
                                             ``pause`` or ``resume``; only a hint: the
                                             listener reads ``request`` on one
=============================  ===========  =========================================

Namespace-wide (all share the tag ``{<ns>}``, so the word indexes can be
intersected with one SINTER and a record list is created and appended to by one
script even on Redis Cluster; the price is that these keys live on one node):

=============================  ===========  =========================================
``<ns>:{<ns>}:processes``       sorted set   every process name, scored by the start
                                             time of its latest run
``<ns>:{<ns>}:operations``      hash         operation id -> JSON of a multi-step
                                             write in progress: ``{"id", "kind",
                                             "process", "token", "args", "undo",
                                             "started_at", "updated_at"}``; the id is
                                             nanoseconds since the epoch (see
                                             :mod:`operations`)
``<ns>:{<ns>}:cword:<word>``    set          word index of code items: members
                                             ``<process>\\x1f<index>\\x1f<start_position>\\x1f<run>``
                                             of every code item whose text has the
                                             word (case-folded ``\\w+`` token)
``<ns>:{<ns>}:dword:<word>``    set          word index of descriptions: members
                                             ``<item>\\x1f<description name>``
``<ns>:{<ns>}:desc:<item>``     hash         descriptions of a process or record list:
                                             description name -> JSON ``{"text",
                                             "embedding", "created_at", "process",
                                             "process_index"}``
``<ns>:{<ns>}:record_lists``    sorted set   every record list name, by creation time
``<ns>:{<ns>}:listmeta:<name>`` hash         a record list: ``columns`` (JSON list, in
                                             creation order), ``column_set`` (sorted
                                             JSON list), ``created_at``, ``process``
                                             and ``process_index`` (the process and
                                             code item that created it; empty when a
                                             VaultClient did), ``trimmed`` (records
                                             removed from the front), ``w:<writer>``
                                             -> the sequence number of the last append
                                             of that Vault applied (retries skipped)
``<ns>:{<ns>}:records:<name>``  list         the records of a list, JSON objects, in
                                             append order (index = position); NaN and
                                             infinities as ``NaN``/``Infinity`` tokens
``<ns>:{<ns>}:recmeta:<name>``  list         lineage of each record, same positions:
                                             JSON ``{"process", "index", "run", "at"}``
                                             plus ``"inputs": {item: [start, end]}``
                                             when given (``process`` is ``""`` and
                                             ``index`` null for a VaultClient write)
``<ns>:{<ns>}:wrote:<process>`` hash         what a process wrote: ``e:<list>`` ->
                                             ``<start>:<end>`` (the span of its records
                                             in the list), ``c:<list>`` -> code index
                                             that created the list
``<ns>:{<ns>}:dependents:<item>`` list       entries that named ``<item>`` in
                                             ``input_items``: JSON ``[start, end,
                                             "record_list", list, index, index + 1]``
=============================  ===========  =========================================
"""

from __future__ import annotations

import re

from .errors import ValidationError

MAX_NAME_LENGTH = 200
_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f{}]")
_VALID: set[str] = set()  # names that passed check_name (a loop names the same ones)
_VALID_MAX = 10_000


def check_name(value: object, what: str = "process name") -> str:
    """Return ``value`` if it is a usable name, else raise ValidationError saying why.

    Braces are refused because they would break the Redis Cluster hash tag; control
    characters because they make ``redis-cli`` output unreadable.
    """
    if type(value) is str and value in _VALID:
        return value
    if not isinstance(value, str):
        raise ValidationError(f"{what} must be a string, got {type(value).__name__}: {value!r}")
    if not value or not value.strip():
        raise ValidationError(f"{what} must not be empty or blank: {value!r}")
    if len(value) > MAX_NAME_LENGTH:
        raise ValidationError(
            f"{what} is {len(value)} characters long, the limit is {MAX_NAME_LENGTH}: "
            f"{value[:40]!r}..."
        )
    bad = _FORBIDDEN.search(value)
    if bad:
        raise ValidationError(
            f"{what} {value!r} contains {bad.group()!r}: control characters and braces "
            "are not allowed"
        )
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError(f"{what} {value!r} is not valid UTF-8 text") from None
    if type(value) is str and len(_VALID) < _VALID_MAX:
        _VALID.add(value)
    return value


def check_namespace(namespace: object) -> str:
    """Validate a namespace: a name without ``:``, spaces or glob characters, so keys
    stay parseable and a SCAN pattern built from it matches this namespace only."""
    ns = check_name(namespace, "namespace")
    bad = set(ns) & set(": *?[]\\")
    if bad:
        raise ValidationError(
            f"namespace {ns!r} must not contain {''.join(sorted(bad))!r}: ':' and spaces "
            "would make keys ambiguous, and glob characters would let new_db match "
            "other namespaces"
        )
    return ns


def _proc(ns: str, name: str, suffix: str) -> str:
    return f"{ns}:{{{ns}:{name}}}:{suffix}"


def proc(ns: str, name: str) -> str:
    """Hash: the process record."""
    return _proc(ns, name, "proc")


def code(ns: str, name: str) -> str:
    """Stream: code item open/close events."""
    return _proc(ns, name, "code")


def request(ns: str, name: str) -> str:
    """String (JSON): the pending interrupt request."""
    return _proc(ns, name, "request")


def requests(ns: str, name: str) -> str:
    """List (JSON, newest first, capped): requests made and what the target did."""
    return _proc(ns, name, "requests")


def alive(ns: str, name: str) -> str:
    """String with TTL: the heartbeat."""
    return _proc(ns, name, "alive")


def runs(ns: str, name: str) -> str:
    """List: JSON snapshots of earlier runs of this name."""
    return _proc(ns, name, "runs")


def children(ns: str, name: str) -> str:
    """Sorted set: child process names, scored by start time."""
    return _proc(ns, name, "children")


def channel(ns: str, name: str) -> str:
    """Pub/sub channel: notifications for this process."""
    return _proc(ns, name, "ctl")


def processes(ns: str) -> str:
    """Sorted set: every process name, by latest start time."""
    return f"{ns}:{{{ns}}}:processes"


PROCESSES_PATTERN = "*:{*}:processes"  # SCAN pattern: every namespace's processes key


def namespace_of_processes_key(key: str) -> str | None:
    """The namespace whose :func:`processes` key ``key`` is, or None for another key."""
    ns = key.partition(":{")[0]
    return ns if ns and processes(ns) == key else None


def operations(ns: str) -> str:
    """Hash: operation id -> JSON of a multi-step write in progress."""
    return f"{ns}:{{{ns}}}:operations"


def code_word(ns: str, word: str) -> str:
    """Set: code items (``process\\x1findex\\x1fstart_position\\x1frun``) with ``word``."""
    return f"{ns}:{{{ns}}}:cword:{word}"


def description_word(ns: str, word: str) -> str:
    """Set: descriptions (``item\\x1fdescription_name``) whose text has ``word``."""
    return f"{ns}:{{{ns}}}:dword:{word}"


def descriptions(ns: str, item: str) -> str:
    """Hash: description name -> JSON of the descriptions of one item."""
    return f"{ns}:{{{ns}}}:desc:{item}"


def record_lists(ns: str) -> str:
    """Sorted set: every record list name, by creation time."""
    return f"{ns}:{{{ns}}}:record_lists"


def record_list_meta(ns: str, name: str) -> str:
    """Hash: a record list's columns and creation time."""
    return f"{ns}:{{{ns}}}:listmeta:{name}"


def records(ns: str, name: str) -> str:
    """List: a record list's records (JSON objects) in append order."""
    return f"{ns}:{{{ns}}}:records:{name}"


def record_meta(ns: str, name: str) -> str:
    """List: the lineage of each record of a list (JSON), parallel to :func:`records`."""
    return f"{ns}:{{{ns}}}:recmeta:{name}"


def process_writes(ns: str, process: str) -> str:
    """Hash: the record lists a process created (``c:<list>``) and wrote (``e:<list>``).

    Namespace-tagged rather than process-tagged, so the append script that writes a
    record can update it in the same atomic step on Redis Cluster.
    """
    return f"{ns}:{{{ns}}}:wrote:{process}"


def dependents(ns: str, item: str) -> str:
    """List: JSON of the entries that named ``item`` in their ``input_items``."""
    return f"{ns}:{{{ns}}}:dependents:{item}"


def namespace_pattern(ns: str) -> str:
    """A SCAN pattern matching every key of the namespace (used by ``new_db``)."""
    return f"{ns}:{{{ns}[:}}]*"
