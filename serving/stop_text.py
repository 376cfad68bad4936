"""Stop strings on a text stream: release text as soon as it cannot be the start of one.

The model streams text in pieces, so a stop string may arrive split across them. StopText
holds back only the longest tail that could still grow into a stop string, and cuts the
text where the first stop string begins (the stop string itself is never released).
"""

from collections.abc import Sequence


class StopText:
    def __init__(self, stops: Sequence[str]) -> None:
        self.stops = tuple(stops)
        self.hit = False
        self._held = ""

    def feed(self, text: str) -> str:
        """The text that is now certain to come before any stop string."""
        if self.hit:
            return ""
        if not self.stops:
            return text
        held = self._held + text
        cuts = [i for i in (held.find(stop) for stop in self.stops) if i >= 0]
        if cuts:
            self.hit = True
            self._held = ""
            return held[: min(cuts)]
        keep = max((self._tail(held, stop) for stop in self.stops), default=0)
        self._held = held[len(held) - keep :]
        return held[: len(held) - keep]

    def flush(self) -> str:
        """At the end of the stream, held text was prose after all."""
        held, self._held = self._held, ""
        return "" if self.hit else held

    @staticmethod
    def _tail(text: str, stop: str) -> int:
        # Longest proper prefix of `stop` that `text` ends with (stops are a few characters).
        for size in range(min(len(stop) - 1, len(text)), 0, -1):
            if text.endswith(stop[:size]):
                return size
        return 0
