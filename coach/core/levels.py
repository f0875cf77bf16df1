"""Levels of a timestamped signal, taken over time (not over a number of samples), so a 10 Hz and
a 100 Hz sensor, or a jittery one, give the same level."""

from __future__ import annotations

from bisect import bisect_left, insort
from collections import deque


class MovingMean:
    """Mean over the last `window` seconds of samples, O(1) per sample."""

    def __init__(self, window: float):
        self.window = window
        self._items: deque[tuple[float, float]] = deque()
        self._sum = 0.0

    def push(self, t: float, x: float) -> float:
        self._items.append((t, x))
        self._sum += x
        while self._items[0][0] <= t - self.window and len(self._items) > 1:
            self._sum -= self._items.popleft()[1]
        return self._sum / len(self._items)

    def mean_since(self, t0: float) -> float | None:
        picked = [x for t, x in self._items if t >= t0]
        return sum(picked) / len(picked) if picked else None


class MovingMedian:
    """Median over the last `window` seconds of samples. Unlike a mean it keeps a step sharp: a
    3 s excursion of 60 mmHg (off the bladder and back) is out of a band for 3 s, where a 1 s mean
    keeps it out for nearly 4. O(n) per sample in the window's n samples (100 at 100 Hz)."""

    def __init__(self, window: float):
        self.window = window
        self._items: deque[tuple[float, float]] = deque()
        self._sorted: list[float] = []

    def push(self, t: float, x: float) -> float:
        self._items.append((t, x))
        insort(self._sorted, x)
        while self._items[0][0] <= t - self.window and len(self._items) > 1:
            old = self._items.popleft()[1]
            del self._sorted[bisect_left(self._sorted, old)]
        n = len(self._sorted)
        middle = n // 2
        return self._sorted[middle] if n % 2 else 0.5 * (self._sorted[middle - 1] + self._sorted[middle])
