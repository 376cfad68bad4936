"""Retry a fine-tuning job or an evaluation that the task queue refused (status not_queued):
a page with the reason and a Retry button, and the same for the API (staff only).

Routes, in finetune/urls.py:      jobs/<pk>/retry/ (job-retry),
                                  evals/runs/<pk>/retry/ (eval-run-retry);
in finetune/api_urls.py:          finetune/jobs/<pk>/retry/ (api-job-retry),
                                  finetune/evals/<pk>/retry/ (api-eval-run-retry).
"""

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import permissions, serializers
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from finetune.eval_runs import eval_run_retry
from finetune.jobs import finetune_job_retry
from finetune.models import EvalRun, FinetuneJob
from finetune.rejected import RequestRejected
from finetune.serializers import JobSerializer
from widgets.api_responses import refusals


def _retry_page(request, *, row, retry, title: str, back: str):
    """GET: why the row is not queued, and the button; POST: send it again."""
    if request.method == "POST":
        try:
            retry()
        except RequestRejected as exc:
            for problem in exc.problems:
                messages.error(request, problem)
        return redirect(back)
    return render(request, "finetune/retry.html", {"row": row, "title": title, "back": back})


@staff_member_required
def job_retry_view(request, pk):
    job = get_object_or_404(FinetuneJob, pk=pk)
    return _retry_page(
        request,
        row=job,
        retry=lambda: finetune_job_retry(job=job),
        title=f"Job #{job.pk}: {job.name}",
        back=reverse("finetune:job", args=[job.pk]),
    )


@staff_member_required
def eval_run_retry_view(request, pk):
    run = get_object_or_404(EvalRun, pk=pk)
    return _retry_page(
        request,
        row=run,
        retry=lambda: eval_run_retry(run=run),
        title=f"Evaluation #{run.pk}: {run.label}",
        back=reverse("finetune:eval-run", args=[run.pk]),
    )


# ---------------------------------------------------------------- the API


class EvalRunStateSerializer(serializers.ModelSerializer):
    class Meta:
        model = EvalRun
        fields = ["id", "status", "error", "model_name", "source", "done", "total", "created"]
        read_only_fields = fields


def _retried(retry):
    try:
        return retry()
    except RequestRejected as exc:
        raise ValidationError({"status": exc.problems}) from exc


class JobRetryApi(APIView):
    permission_classes = [permissions.IsAdminUser]

    @extend_schema(
        request=None,
        responses={200: JobSerializer, **refusals(400, 403, 404)},
        description="Send a job that was not queued again: `status` is `queued`, or "
        "`not_queued` again with the reason in `error` if the task queue is still down. "
        "400: the job was not refused by the queue (`status` says what it is).",
    )
    def post(self, request, pk):
        job = get_object_or_404(FinetuneJob, pk=pk)
        return Response(JobSerializer(_retried(lambda: finetune_job_retry(job=job))).data)


class EvalRunRetryApi(APIView):
    permission_classes = [permissions.IsAdminUser]

    @extend_schema(
        request=None,
        responses={200: EvalRunStateSerializer, **refusals(400, 403, 404)},
        description="Send an evaluation that was not queued again: `status` is `queued`, or "
        "`not_queued` again with the reason in `error` if the task queue is still down. "
        "400: the evaluation was not refused by the queue (`status` says what it is).",
    )
    def post(self, request, pk):
        run = get_object_or_404(EvalRun, pk=pk)
        return Response(EvalRunStateSerializer(_retried(lambda: eval_run_retry(run=run))).data)
