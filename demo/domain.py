"""The real-estate demo as a domain: `WEFT_DOMAIN=demo.domain:DEMO` (the default).

Imported while settings load, so the CRM's models are imported inside the methods.
"""

from collections.abc import Sequence
from pathlib import Path

DEMO_DIR = Path(__file__).resolve().parent


class RealEstateDemo:
    name = "real-estate demo"
    widgets_dir = DEMO_DIR / "registry"
    apps = ("demo",)

    def context(self, *, question: str, history: Sequence[str], user) -> dict:
        """The records retrieval finds, and `actions` when `user` may run only some of the
        CRM actions (absent means all: shared/demo/README.md)."""
        from demo.retrieval import retrieve_context
        from demo.services import ACTIONS, crm_actions_held

        context = retrieve_context(question, history=tuple(history))
        held = crm_actions_held(user=user)
        if len(held) < len(ACTIONS):
            context["actions"] = held
        return context

    def run_action(self, *, action: str, params: dict, user) -> str:
        from demo.services import crm_action_run

        return crm_action_run(action=action, params=params, user=user)

    def load_fixtures(self, *, author=None) -> dict[str, int]:
        from demo.services import crm_fixture_load

        return crm_fixture_load()

    def demo_conversations(self, *, count: int | None = None, seed: int | None = None):
        from demo.dataset.data import DEMO_ROWS, generate_demo_conversations

        return generate_demo_conversations(
            count=DEMO_ROWS if count is None else count, seed=11 if seed is None else seed
        )


DEMO = RealEstateDemo()
