"""Staff pages of the fine-tuning loop: datasets, jobs with a live loss curve, adapters."""

import json
from functools import lru_cache
from pathlib import Path

from django.conf import settings
from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_POST

from chat.models import Correction
from chat.selectors import OUTCOMES, widget_outcome_shares_by_day
from chat.services import ChatError, correction_review
from finetune import eval_selectors
from finetune.adapters import (
    PromotionRefused,
    adapter_promote,
    adapter_rollback,
    promoted_adapter,
    promotion_gate,
)
from finetune.conversation_rows import corrections_for_review
from finetune.datasets import (
    DatasetRejected,
    DatasetTooLarge,
    dataset_build_from_conversations,
    dataset_import,
    dataset_name_from_filename,
    read_upload,
    validate_dataset_name,
)
from finetune.eval_runs import eval_run_cancel, eval_runs_queue_comparison
from finetune.evaluation.chart import bar_chart_svg
from finetune.jobs import finetune_job_cancel, finetune_job_start
from finetune.models import Adapter, Dataset, EvalRun, FinetuneJob, Promotion
from finetune.rejected import RequestRejected
from serving.registry_specs import active_widget_specs


@staff_member_required
def overview(request):
    return render(
        request,
        "finetune/overview.html",
        {
            "datasets": Dataset.objects.all()[:50],
            "jobs": FinetuneJob.objects.select_related("dataset")[:30],
            "adapters": Adapter.objects.select_related("dataset")[:30],
            "promoted": promoted_adapter(),
            "corrections_pending": corrections_for_review().count(),
        },
    )


def _problems(request, exc: DatasetRejected) -> None:
    for message in exc.messages():
        messages.error(request, message)


@staff_member_required
@require_POST
def dataset_build(request):
    try:
        dataset = dataset_build_from_conversations(
            name=request.POST.get("name", "").strip() or "chat",
            feedback=request.POST.get("feedback", "any"),
            widget_types=[w for w in request.POST.getlist("widget_types") if w] or None,
            exclude_invalid=bool(request.POST.get("exclude_invalid")),
            author=request.user,
        )
    except DatasetRejected as exc:
        _problems(request, exc)
        return redirect("finetune:overview")
    return redirect("finetune:dataset", pk=dataset.pk)


@staff_member_required
@require_POST
def dataset_upload(request):
    upload = request.FILES.get("file")
    if upload is None:
        messages.error(request, "Choose a JSONL file.")
        return redirect("finetune:overview")
    name = request.POST.get("name", "").strip() or dataset_name_from_filename(upload.name)
    try:
        validate_dataset_name(name)
    except ValidationError as exc:
        messages.error(request, exc.messages[0])
        return redirect("finetune:overview")
    try:
        dataset = dataset_import(
            name=name,
            # The upload is on disk past FILE_UPLOAD_MAX_MEMORY_SIZE; its size is checked
            # before it is read into memory.
            text=read_upload(upload),
            exclude_invalid=bool(request.POST.get("exclude_invalid")),
            author=request.user,
        )
    except UnicodeDecodeError:
        messages.error(request, "The file is not UTF-8 text.")
        return redirect("finetune:overview")
    except DatasetTooLarge as exc:
        messages.error(request, str(exc))
        return redirect("finetune:overview")
    except DatasetRejected as exc:
        _problems(request, exc)
        return redirect("finetune:overview")
    return redirect("finetune:dataset", pk=dataset.pk)


@staff_member_required
def dataset_page(request, pk):
    from finetune.training.config import TrainConfig

    dataset = get_object_or_404(Dataset, pk=pk)
    defaults = TrainConfig().as_dict()
    if request.method == "POST":
        config = {}
        for key, default in defaults.items():
            raw = request.POST.get(key, "")
            if raw == "" or raw == str(default):
                continue
            try:
                config[key] = json.loads(raw)
            except json.JSONDecodeError:
                config[key] = raw
        try:
            job = finetune_job_start(
                dataset=dataset,
                name=request.POST.get("name", ""),
                config=config,
                author=request.user,
            )
        except RequestRejected as exc:
            for problem in exc.problems:
                messages.error(request, problem)
        else:
            return redirect("finetune:job", pk=job.pk)
    rows = dataset.rows.all()[:200]
    return render(
        request,
        "finetune/dataset.html",
        {"dataset": dataset, "rows": rows, "defaults": defaults, "total": dataset.rows.count()},
    )


@staff_member_required
def corrections_page(request):
    """The review queue: users' corrections train only once staff accept them."""
    pending = corrections_for_review()
    return render(
        request,
        "finetune/corrections.html",
        {"corrections": pending[:100], "total": pending.count()},
    )


@staff_member_required
@require_POST
def correction_review_view(request, pk):
    correction = get_object_or_404(Correction, pk=pk)
    decision = request.POST.get("decision")
    if decision not in ("accept", "reject"):
        messages.error(request, "Choose Accept or Reject.")
        return redirect("finetune:corrections")
    try:
        correction_review(correction=correction, accept=decision == "accept", reviewer=request.user)
    except ChatError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Correction #{correction.pk}: {correction.review}.")
    return redirect("finetune:corrections")


@lru_cache(maxsize=1)
def _tokenizer():
    from transformers import AutoTokenizer

    from serving.model_files import ensure_base_model

    return AutoTokenizer.from_pretrained(ensure_base_model(Path(settings.WEFT_MODEL_DIR)))


def preflight_row(line: dict, *, manual: bool) -> list[tuple[str, bool]]:
    from finetune.training.data import preflight

    return preflight(line, widgets=active_widget_specs(), tokenizer=_tokenizer(), manual=manual)


@staff_member_required
def preflight_page(request, pk, row_id):
    dataset = get_object_or_404(Dataset, pk=pk)
    row = get_object_or_404(dataset.rows, row_id=row_id)
    manual = request.GET.get("prompt", "short") == "manual"
    tokens = preflight_row(row.as_line(), manual=manual)
    return render(
        request,
        "finetune/preflight.html",
        {
            "dataset": dataset,
            "row": row,
            "tokens": tokens,
            "manual": manual,
            "counted": sum(1 for _, loss in tokens if loss),
        },
    )


@staff_member_required
def job_page(request, pk):
    job = get_object_or_404(FinetuneJob.objects.select_related("dataset"), pk=pk)
    return render(request, "finetune/job.html", {"job": job, "queue": settings.WEFT_TRAIN_QUEUE})


@staff_member_required
@require_POST
def job_cancel(request, pk):
    finetune_job_cancel(job=get_object_or_404(FinetuneJob, pk=pk))
    return redirect("finetune:job", pk=pk)


@staff_member_required
def adapter_promote_view(request, name):
    """GET: the evaluation gate's verdict and the form; POST: promote (or override the gate)."""
    adapter = get_object_or_404(Adapter, name=name)
    if request.method == "POST":
        try:
            adapter_promote(
                adapter=adapter,
                user=request.user,
                reason=request.POST.get("reason", ""),
                override_reason=request.POST.get("override_reason", ""),
            )
        except PromotionRefused as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, f"The chat now answers with {adapter.name}.")
            return redirect("finetune:overview")
    return render(
        request,
        "finetune/promote.html",
        {
            "adapter": adapter,
            "verdict": promotion_gate(adapter=adapter),
            "promoted": promoted_adapter(),
            "promotions": Promotion.objects.select_related(
                "adapter", "promoted_by", "candidate_run", "baseline_run"
            )[:10],
        },
    )


@staff_member_required
@require_POST
def adapter_rollback_view(request):
    try:
        promotion = adapter_rollback(user=request.user)
    except PromotionRefused as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request, f"Rolled back: the chat answers with {promotion.adapter or 'the base model'}."
        )
    return redirect("finetune:overview")


# ---------------------------------------------------------------- evaluations


def _evals_url(dataset, adapter, extra=()) -> str:
    query = {"dataset": dataset.pk if dataset else "", "adapter": adapter.name if adapter else ""}
    return f"{reverse('finetune:evals')}?{urlencode({**query, 'run': list(extra)}, doseq=True)}"


@staff_member_required
def evals_page(request):
    datasets = Dataset.objects.all()
    dataset = (
        datasets.filter(pk=request.GET["dataset"]).first()
        if request.GET.get("dataset", "").isdigit()
        else eval_selectors.default_dataset()
    )
    adapters = Adapter.objects.all()
    adapter = (
        adapters.filter(name=request.GET["adapter"]).first()
        if request.GET.get("adapter")
        else adapters.first()
    )
    extra = [int(pk) for pk in request.GET.getlist("run") if pk.isdigit()]
    columns = (
        eval_selectors.comparison_columns(dataset=dataset, adapter=adapter, extra=extra)
        if dataset
        else []
    )
    recent = eval_selectors.recent_runs()
    series = eval_selectors.chart_series(columns)
    return render(
        request,
        "finetune/evals.html",
        {
            "datasets": datasets,
            "dataset": dataset,
            "adapters": adapters,
            "adapter": adapter,
            "extra": extra,
            "columns": columns,
            "rows": eval_selectors.comparison_rows(columns),
            "chart": mark_safe(bar_chart_svg(eval_selectors.CHART_METRICS, series))  # noqa: S308 (escaped in bar_chart_svg)
            if series
            else "",
            "past_runs": eval_selectors.comparable_runs(dataset=dataset).filter(
                status=EvalRun.Status.SUCCEEDED
            )[:50]
            if dataset
            else [],
            "recent": recent,
            "active": any(not r.finished_running for r in recent),
            "outcomes": OUTCOMES,
            "production": widget_outcome_shares_by_day(days=30),
        },
    )


@staff_member_required
@require_POST
def evals_queue(request):
    dataset = get_object_or_404(Dataset, pk=request.POST.get("dataset") or 0)
    adapter = get_object_or_404(Adapter, name=request.POST.get("adapter", ""))
    try:
        runs = eval_runs_queue_comparison(
            dataset=dataset, adapter=adapter, backend=settings.WEFT_BACKEND, user=request.user
        )
    except RequestRejected as exc:
        for problem in exc.problems:
            messages.error(request, problem)
    else:
        messages.success(request, "Queued evaluations " + ", ".join(f"#{r.pk}" for r in runs) + ".")
    return redirect(_evals_url(dataset, adapter))


@staff_member_required
def eval_run_page(request, pk):
    run = get_object_or_404(EvalRun.objects.select_related("dataset", "adapter"), pk=pk)
    widget = request.GET.get("widget") or None
    return render(
        request,
        "finetune/eval_run.html",
        {
            "run": run,
            "queue": settings.WEFT_EVAL_QUEUE,
            "widget": widget,
            "cases": eval_selectors.failing_cases(run, widget=widget),
            "back": _evals_url(run.dataset, run.adapter, [run.pk]),
        },
    )


@staff_member_required
@require_POST
def eval_run_cancel_view(request, pk):
    eval_run_cancel(run=get_object_or_404(EvalRun, pk=pk))
    return redirect("finetune:eval-run", pk=pk)
