"""With WEFT_DOMAIN pointing at another domain, chat, registry, fine-tuning and evaluation
work with no demo code loaded: a fresh process on a fresh database, end to end."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

SCRIPT = r"""
import json, sys, threading
import django
django.setup()
from django.conf import settings
from django.core.management import call_command

call_command("migrate", verbosity=0)
call_command("load_domain", verbosity=0)

from django.contrib.auth import get_user_model
from chat.replies import reply_events
from chat.services import action_decide, chat_message_create, conversation_create, feedback_set
from finetune.datasets import dataset_build_from_conversations, dataset_freeze
from finetune.eval_runs import eval_run_create, eval_run_execute
from serving.backend import get_backend
from widgets.models import WidgetType

user = get_user_model().objects.create_user("agent")
conversation = conversation_create(owner=user)
_, reply = chat_message_create(conversation=conversation, text="refund A-100 please")
payload = {"action": "refund", "params": {"order_id": "A-100"}}
widget = '<widget type="refund_offer">' + json.dumps(payload) + "</widget>"
backend = get_backend()
backend.enqueue("I can refund it.\n" + widget)
events = list(reply_events(reply.pk, cancel=threading.Event()))
reply.refresh_from_db()
run = action_decide(message=reply, block_index=0, confirm=True, user=user)
feedback_set(message=reply, rating=1)
dataset = dataset_freeze(dataset=dataset_build_from_conversations(name="desk"))
rows = list(dataset.rows.all())
backend.enqueue(*["I can refund it.\n" + widget] * len(rows))
evaluation = eval_run_create(
    dataset=dataset, split="all", model_name="base", constrained=False, backend="scripted"
)
evaluation = eval_run_execute(run_id=evaluation.pk)
import finetune.training.run  # the training core loads too

print(json.dumps({
    "domain": settings.WEFT_DOMAIN,
    "widgets": list(WidgetType.objects.values_list("name", flat=True)),
    "context": reply.context,
    "last_event": events[-1]["event"],
    "action": [run.status, run.outcome],
    "rows": len(rows),
    "evaluation": [evaluation.status, evaluation.summary.get("validity")],
    "demo_modules": sorted(m for m in sys.modules if m == "demo" or m.startswith("demo.")),
    "apps": [a for a in settings.INSTALLED_APPS if a == "demo"],
}))
"""


@pytest.mark.timeout(300)
def test_another_domain_runs_end_to_end_with_no_demo_module_loaded(tmp_path):
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "WEFT_"))},
        "DJANGO_SETTINGS_MODULE": "project.settings",
        "DEBUG": "1",
        "WEFT_DOMAIN": "tests.domains.helpdesk:HELPDESK",
        "WEFT_BACKEND": "scripted",
        "WEFT_DATA_DIR": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'weft.sqlite3'}",
    }
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=REPO, env=env, capture_output=True, text=True,
        timeout=240,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["widgets"] == ["refund_offer"]
    assert result["context"] == {
        "orders": [{"order_id": "A-100", "total": 20.0}],
        "asked_by": "agent",
    }
    assert result["last_event"] == "done"
    assert result["action"] == ["done", "Refunded order A-100 ($20.00)."]
    assert result["rows"] == 1 and result["evaluation"] == ["succeeded", 1.0]
    assert result["demo_modules"] == [] and result["apps"] == []
