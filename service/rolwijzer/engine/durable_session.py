"""The only module that touches durable-rules. Everything else goes through `DurableRuleset`.

durable-rules 2.0.28 has sharp edges, each handled here and proven in tests/test_durable_session.py:

* State is kept per session id and is never freed by itself (the cache fills and `post` raises MemoryError after
  ~10,000 sessions). Every evaluation uses a fresh session id and deletes its state in a `finally`.
* Deleting the state of a message that no rule handled corrupts the engine (a later call segfaults or hangs;
  measured here). Every compiled ruleset therefore has a catch-all rule, so every message is handled.
* `$nex` alone as a rule condition hangs the engine; the compiler never emits it (absence is an explicit value).
* The Python `durable.engine.Host` runs actions in Python closures that swallow exceptions into the state, and
  starts daemon dispatcher threads that can pick up a session's pending actions between two calls of ours. We use
  no Python actions and no Host: the C engine's action queue is drained here, synchronously, in the calling
  thread, and the name of each matched rule is all we take from it. Measured: half the cost of Host actions.
* A rule with `$or` fires once per matching branch; names are de-duplicated, keeping the first position.
"""

from __future__ import annotations

import decimal
import itertools
import json
import threading
from collections.abc import Mapping
from typing import Any as AnyType

import durable_rules_engine as _engine
import orjson

CATCH_ALL_RULE = "_handled"
CATCH_ALL_ATTRIBUTE = "_m"
_CATCH_ALL_PRIORITY = 1_000_000
_RESULT_OK = 0

_ids = itertools.count(1)
_ids_lock = threading.Lock()


class DurableError(RuntimeError):
    """durable-rules failed to create a ruleset or to evaluate a message."""


# Python writes a float in exponent form outside this range.
_PLAIN_FLOAT_LOW, _PLAIN_FLOAT_HIGH = 1e-4, 1e16


def _next_id(prefix: str) -> str:
    with _ids_lock:
        return f"{prefix}{next(_ids)}"


def _json(payload: Mapping[str, AnyType]) -> str:
    """The message as JSON; numbers never in exponent form, which durable-rules' parser rejects (1e-05, 1e+16).

    Written by orjson (a message per stage that durable-rules is asked: json.dumps took a twentieth of a decision)
    when the result is ASCII: otherwise by json.dumps, which escapes every other character as it does in the
    rulesets (`DurableRuleset.__init__`), so a message's strings are written as the rules' strings are. Within the
    plain range orjson writes a number as Python does (shortest round trip, no exponent).
    """
    unusual = {
        key: value
        for key, value in payload.items()
        if type(value) is float and value != 0.0 and not _PLAIN_FLOAT_LOW <= abs(value) < _PLAIN_FLOAT_HIGH
    }
    if not unusual:
        fast = orjson.dumps(payload)
        return fast.decode("ascii") if fast.isascii() else json.dumps(payload)
    marked = dict(payload)
    for index, key in enumerate(unusual):
        marked[key] = f"\x00{index}"
    text = json.dumps(marked)
    for index, value in enumerate(unusual.values()):
        # The shortest repr, written out positionally: the same number, exactly.
        text = text.replace(f'"\\u0000{index}"', format(decimal.Decimal(repr(value)), "f"), 1)
    return text


class DurableRuleset:
    """One compiled durable-rules ruleset.

    Args:
        name: a readable name; a process-unique suffix is added, since the engine's names are process-global.
        rules: durable-rules JSON rule definitions keyed by rule name, each {"all": [...], "pri": n}.
        first_match: evaluate messages as events, which the highest-priority (lowest `pri`) matching rule
            consumes; otherwise as facts, which every matching rule sees.
    """

    def __init__(self, name: str, rules: Mapping[str, Mapping[str, AnyType]], first_match: bool) -> None:
        if CATCH_ALL_RULE in rules:
            raise DurableError(f"rule name {CATCH_ALL_RULE!r} is reserved")
        definition = {key: dict(value) for key, value in rules.items()}
        definition[CATCH_ALL_RULE] = {"all": [{"m": {CATCH_ALL_ATTRIBUTE: 1}}], "pri": _CATCH_ALL_PRIORITY}
        self.name = _next_id(f"{name}#")
        self.first_match = first_match
        try:
            self._handle = _engine.create_ruleset(self.name, json.dumps(definition))
        except _engine.error as err:
            raise DurableError(f"durable-rules rejected ruleset {name}: {err}") from err

    def matching_rules(self, message: Mapping[str, AnyType]) -> list[str]:
        """Return the names of the rules that match `message`, in priority order, without duplicates.

        The catch-all rule is not reported. The session is deleted before this returns, whatever happens.

        Raises:
            DurableError: the engine failed; no partial result is returned.
        """
        sid = _next_id("s")
        payload = dict(message)
        payload["sid"] = sid
        payload[CATCH_ALL_ATTRIBUTE] = 1
        assert_message = _engine.assert_event if self.first_match else _engine.assert_fact
        handled = False
        try:
            code, state_handle = assert_message(self._handle, _json(payload))
            if code != _RESULT_OK:
                raise DurableError(f"durable-rules did not handle the message (code {code})")
            handled = True
            return self._drain_actions(state_handle)
        except _engine.error as err:
            raise DurableError(f"durable-rules failed in {self.name}: {err}") from err
        finally:
            if handled:
                _engine.delete_state(self._handle, sid)

    def _drain_actions(self, state_handle: int) -> list[str]:
        names: list[str] = []
        seen: set[str] = set()
        result = _engine.start_action_for_state(self._handle, state_handle)
        message_json = result[1] if result else None
        while message_json:
            # The action message is {"<rule name>": {...matched message...}}; rule names are plain (no quotes or
            # escapes, see rules/validate.py), so the name is read without parsing the whole message (measured:
            # json.loads was a tenth of an evaluation).
            name = message_json[2 : message_json.index('"', 2)]
            if name != CATCH_ALL_RULE and name not in seen:
                seen.add(name)
                names.append(name)
            message_json = _engine.complete_and_start_action(self._handle, state_handle)
        return names

    def close(self) -> None:
        """Free the engine's ruleset. The object must not be used afterwards."""
        _engine.delete_ruleset(self._handle)
