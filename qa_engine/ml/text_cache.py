"""A thread-safe LRU of per-text model outputs, shared by the ONNX models (embedder, turn classifier,
emotion scorer): agents paste the same template lines again and again, so each distinct text is
run through a model once, and repeats within one call are run once too."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from functools import partial
from itertools import count
from typing import Generic, TypeVar

V = TypeVar("V")
F = TypeVar("F")  # a staged batch (its graph inputs)
Out = TypeVar("Out")  # a batch's model outputs


class TextCache(Generic[V]):
    def __init__(self, size: int) -> None:
        self.size = size  # 0: compute every time
        self.hits = self.misses = 0
        self._items: OrderedDict[str, V] = OrderedDict()
        self._reserved: set[str] = set()  # staged, not yet committed (reserve)
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._reserved.clear()
            self.hits = self.misses = 0

    def reserve(self, texts: Sequence[str]) -> list[str]:
        """The distinct texts neither cached nor reserved by earlier staged work, in first-seen order,
        now reserved until put_many or release: the next chunk's staging, which starts before this
        chunk's outputs are committed, must not run the template lines the two share twice."""
        with self._lock:
            todo = [t for t in dict.fromkeys(texts) if t not in self._items and t not in self._reserved]
            self._reserved.update(todo)
            return todo

    def release(self, texts: Sequence[str]) -> None:
        with self._lock:
            self._reserved.difference_update(texts)

    def put_many(self, texts: Sequence[str], values: Sequence[V]) -> None:
        with self._lock:
            self._reserved.difference_update(texts)
            for text, value in zip(texts, values, strict=True):
                if self.size > 0:
                    self._items[text] = value
            while len(self._items) > max(self.size, 0):
                self._items.popitem(last=False)

    def stage(
        self,
        texts: Sequence[str],
        prepare: Callable[[list[str]], Sequence[F]],
        run: Callable[[F], Out],
        values: Callable[[list[str], Sequence[F], list[Out]], Sequence[V]],
    ) -> Staged | None:
        """The model work for the texts neither cached nor already staged (reserved), or None:
        `prepare` (here, now: the Python part) turns them into batches, `run` is one batch's model call
        (a Staged task), `values` turns the batches' outputs into one cached value per text (commit)."""
        todo = self.reserve(texts) if self.size > 0 else []
        if not todo:
            return None
        batches = prepare(todo)
        outputs: list = [None] * len(batches)

        def task(i: int) -> None:
            outputs[i] = run(batches[i])

        return Staged(
            [partial(task, i) for i in range(len(batches))],
            commit=lambda: self.put_many(todo, values(todo, batches, outputs)),
            abandon=lambda: self.release(todo),
        )

    def get_many(self, texts: Sequence[str], compute: Callable[[list[str]], Sequence[V]]) -> list[V]:
        """One value per text: cached ones from the cache, the others from one `compute` call over
        the distinct missing texts (outside the lock, so other threads are not held up)."""
        out: list[V | None] = [None] * len(texts)
        todo: dict[str, list[int]] = {}
        get, move_to_end = self._items.get, self._items.move_to_end  # once, not per text
        with self._lock:
            for i, text in enumerate(texts):
                got = get(text)
                if got is None:
                    todo.setdefault(text, []).append(i)
                else:
                    move_to_end(text)
                    out[i] = got
            self.hits += len(texts) - sum(map(len, todo.values()))
            self.misses += len(todo)
        if todo:
            values = compute(list(todo))
            with self._lock:
                for (text, rows), value in zip(todo.items(), values, strict=True):
                    for i in rows:
                        out[i] = value
                    if self.size > 0:
                        self._items[text] = value
                while len(self._items) > max(self.size, 0):
                    self._items.popitem(last=False)
        return out  # type: ignore[return-value]


class Staged:
    """A model's work for texts it has not cached, split by what needs the GIL: the features were
    made by whoever staged it (Python); `tasks` are onnxruntime calls alone, one per batch, each
    writing its own output slot (they release the GIL, so the cores stay busy while Python runs
    elsewhere); `commit`, once every task has run, turns the outputs into cached values; `abandon`
    frees the texts' reservations when the work will never be committed (a stream closed early).

    Several threads may `run` the same work: each takes the next task not yet taken. The engine's
    background thread runs it, and the rules thread joins in when it would otherwise wait
    (Inspector.inspect_many), so onnxruntime gets both cores exactly when the rules have none to use.
    """

    def __init__(self, tasks: Sequence[Callable[[], object]], commit: Callable[[], None], abandon: Callable[[], None]) -> None:
        self.tasks, self.commit, self.abandon = list(tasks), commit, abandon
        self._taken = count()  # next() of a count is atomic under the GIL

    def run(self) -> None:
        """Run the tasks no thread has taken yet; returns when none is left to take (a task another
        thread took may still be running: wait for that thread before commit)."""
        while (i := next(self._taken)) < len(self.tasks):
            self.tasks[i]()


__all__ = ["Staged", "TextCache"]
