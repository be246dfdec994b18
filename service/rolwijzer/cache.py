"""A bounded, thread-safe least-recently-used cache with hit counts."""

from __future__ import annotations

import threading
from collections.abc import Hashable
from typing import Generic, TypeVar

from cachetools import LRUCache

Key = TypeVar("Key", bound=Hashable)
Value = TypeVar("Value")


class LruCache(Generic[Key, Value]):
    """Keeps at most `size` entries, dropping the least recently used; size 0 keeps nothing.

    cachetools keeps the order and the bound; it is not thread-safe, so a lock makes each get and put atomic.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: LRUCache[Key, Value] = LRUCache(maxsize=max(size, 1))
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Key) -> Value | None:
        """The value for `key` (now the most recently used), or None."""
        if self.size == 0:
            return None
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                self.misses += 1
            else:
                self.hits += 1
            return found

    def put(self, key: Key, value: Value) -> None:
        """Remember `value` for `key`, dropping the least recently used entry when full."""
        if self.size == 0:
            return
        with self._lock:
            self._entries[key] = value

    def __len__(self) -> int:
        return len(self._entries)
