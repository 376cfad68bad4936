"""Domains that misbehave in every way a host's code can (tests/domains/test_calls.py)."""

from pathlib import Path

from domains.protocol import DomainUnavailable

WIDGETS = Path(__file__).parent / "helpdesk" / "widgets"


class Misbehaving:
    """context() and run_action() do whatever `behaviour` says."""

    name = "flaky desk"
    widgets_dir = WIDGETS

    def __init__(self):
        self.behaviour = "ok"

    def _misbehave(self, ok):
        match self.behaviour:
            case "raises":
                raise RuntimeError("database is on fire")
            case "unavailable":
                raise DomainUnavailable("The flaky desk is down for maintenance.")
            case "list":
                return [{"order_id": "A-1"}]
            case "none":
                return None
            case "not_json":
                return {"when": object()}
            case "nan":
                return {"total": float("nan")}
            case "int_keys":
                return {1: "one"}
            case "huge":
                return {"blob": "x" * 300_000}
            case "recursive":
                loop: dict = {}
                loop["self"] = loop
                return loop
        return ok

    def context(self, *, question, history, user):
        return self._misbehave({"orders": []})

    def run_action(self, *, action, params, user):
        return self._misbehave("Done.")


FLAKY = Misbehaving()
