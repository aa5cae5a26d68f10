"""Loaded models, once per process: ONNX sessions, the Whisper model, the OCR engine.

A worker runs many jobs; each job's components ask this cache for their runtime objects instead
of building them. An entry is keyed by what makes the loaded object what it is: its kind, the
weights' paths and pinned sha256 (verified by :class:`~trendflow.models.registry.ModelStore`
before a path is handed out) and the options that shape the object (threads, compute type).
Another sha256 or option is another entry, so a repinned model is never served stale.

The first caller of a key loads it; concurrent callers of the same key wait for that load
rather than load it twice. Every load and hit is counted with its seconds, so a benchmark or a
health endpoint can show that a worker loaded each model once (:func:`stats`).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass
class Entry:
    """One loaded object and its counters."""

    value: Any
    load_s: float
    hits: int = 0


class ModelCache:
    """Thread-safe map from a key to an object loaded at most once."""

    def __init__(self) -> None:
        self._entries: dict[Hashable, Entry] = {}
        self._loading: dict[Hashable, threading.Lock] = {}
        self._lock = threading.Lock()

    def get(self, key: Hashable, load: Callable[[], T]) -> T:
        """The object under ``key``, calling ``load()`` only if no caller has loaded it yet."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                entry.hits += 1
                value: T = entry.value
                return value
            gate = self._loading.setdefault(key, threading.Lock())
        with gate:
            with self._lock:
                entry = self._entries.get(key)
                if entry is not None:  # loaded by the caller we waited for
                    entry.hits += 1
                    loaded: T = entry.value
                    return loaded
            began = time.perf_counter()
            fresh = load()  # a failed load stores nothing: the next caller tries again
            with self._lock:
                self._entries[key] = Entry(fresh, time.perf_counter() - began)
                self._loading.pop(key, None)
            return fresh

    def stats(self) -> list[dict[str, Any]]:
        """Per entry: its key's kind and first path, its load seconds, and its hits."""
        with self._lock:
            items = list(self._entries.items())
        return [
            {"key": _describe(key), "load_s": round(entry.load_s, 3), "hits": entry.hits}
            for key, entry in items
        ]

    def clear(self) -> None:
        """Forget every loaded object (their memory goes when no job holds them)."""
        with self._lock:
            self._entries.clear()


def _describe(key: Hashable) -> str:
    if isinstance(key, tuple) and len(key) >= 2:
        return f"{key[0]}:{Path(str(key[1])).name}"
    return str(key)


MODELS = ModelCache()
"""The process-wide cache every component uses."""


def stats() -> list[dict[str, Any]]:
    """Loads and hits of the process-wide cache."""
    return MODELS.stats()


def threads_per_component(configured: int, max_workers: int) -> int:
    """Threads for one model's runtime: ``configured``, or for 0 the CPUs shared out.

    A run executes up to ``max_workers`` components at once; giving each the whole machine
    oversubscribes it (on 2 cores, two 2-thread ONNX sessions and a 4-thread Whisper spent a
    third of their CPU time spinning and switching). 0 gives each ``cpus // max_workers``.
    """
    if configured > 0:
        return configured
    return max(1, cpu_count() // max(1, max_workers))


def cpu_count() -> int:
    """CPUs this process may run on (its affinity, e.g. a container's cpuset)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1
