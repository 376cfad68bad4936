"""A second domain that lives only in the tests: a help desk with one widget (an action that
refunds an order) and one action. Loaded with WEFT_DOMAIN=tests.domains.helpdesk:HELPDESK."""

from collections.abc import Sequence
from pathlib import Path

from domains.protocol import ActionRefused

ORDERS = {"A-100": 20.0, "A-200": 35.5}


class HelpDesk:
    name = "help desk"
    widgets_dir = Path(__file__).parent / "widgets"

    def __init__(self):
        self.refunded: list[tuple[str, object]] = []  # (order, user): what run_action did

    def context(self, *, question: str, history: Sequence[str], user) -> dict:
        orders = [{"order_id": o, "total": t} for o, t in ORDERS.items() if o in question]
        return {"orders": orders, "asked_by": user.get_username()}

    def run_action(self, *, action: str, params: dict, user) -> str:
        order = params.get("order_id")
        if action != "refund" or order not in ORDERS:
            raise ActionRefused(f"There is no order {order} to refund.")
        if any(done == order for done, _ in self.refunded):
            raise ActionRefused(f"Order {order} was refunded already.")
        self.refunded.append((order, user))
        return f"Refunded order {order} (${ORDERS[order]:.2f})."


HELPDESK = HelpDesk()
