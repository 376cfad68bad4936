"""The job page in Chromium: progress bar and loss curve, readable even for a 12-step run."""

import json

import pytest

from finetune.jobs import finetune_job_start
from finetune.models import FinetuneJob

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_job_page_draws_every_step_of_a_short_run_and_follows_it_live(browser, server, staff_user):
    from finetune.datasets import dataset_import

    text = "\n".join(
        json.dumps(
            {
                "messages": [
                    {"role": "user", "content": f"q{i}"},
                    {"role": "assistant", "content": f"a{i}"},
                ]
            }
        )
        for i in range(12)
    )
    job = finetune_job_start(
        dataset=dataset_import(name="tiny", text=text), name="tiny", config={}, enqueue=False
    )
    history = [{"step": s, "loss": 2.0 - s * 0.1, "eval_loss": None} for s in range(1, 7)]
    FinetuneJob.objects.filter(pk=job.pk).update(
        status="running", step=6, total_steps=12, loss=1.4, history=history
    )

    page = browser.new_page(viewport={"width": 1000, "height": 800})
    page.goto(server + "/accounts/login/")
    page.fill("#id_username", "staff")
    page.fill("#id_password", "pw-staff-123")
    page.click("button[type=submit]")
    page.goto(f"{server}/finetune/jobs/{job.pk}/")
    page.wait_for_function("() => document.querySelectorAll('#curve .dot--train').length === 6")
    assert page.get_attribute(".progress", "aria-valuenow") == "50"
    assert "step 6 of 12" in page.inner_text("#numbers")

    # The worker goes on: the page follows without a reload, eval loss included.
    history += [{"step": s, "loss": 2.0 - s * 0.1, "eval_loss": None} for s in range(7, 12)]
    history.append({"step": 12, "loss": 0.8, "eval_loss": 0.9})
    FinetuneJob.objects.filter(pk=job.pk).update(
        status="succeeded", step=12, loss=0.8, eval_loss=0.9, history=history
    )
    page.wait_for_function(
        "() => document.querySelectorAll('#curve .dot--train').length === 12", timeout=10_000
    )
    assert page.locator("#curve circle.dot--eval").count() == 1
    assert page.get_attribute(".progress", "aria-valuenow") == "100"
    assert page.inner_text("#status") == "succeeded"
    assert page.locator("#cancel").is_disabled()
    page.close()
