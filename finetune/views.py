"""Staff pages of the fine-tuning loop: datasets, jobs with a live loss curve, adapters."""

import json
from functools import lru_cache
from pathlib import Path

from django.conf import settings
from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from finetune.adapters import PromotionRefused, adapter_promote, adapter_rollback, promoted_adapter
from finetune.datasets import DatasetRejected, dataset_build_from_conversations, dataset_import
from finetune.jobs import JobRejected, finetune_job_cancel, finetune_job_start
from finetune.models import Adapter, Dataset, FinetuneJob
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
        },
    )


def _problems(request, exc: DatasetRejected) -> None:
    for where, problem in exc.problems[:20]:
        messages.error(request, f"{where}: {problem}")
    if len(exc.problems) > 20:
        messages.error(request, f"… and {len(exc.problems) - 20} more")


@staff_member_required
@require_POST
def dataset_build(request):
    try:
        dataset = dataset_build_from_conversations(
            name=request.POST.get("name") or "chat",
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
    try:
        dataset = dataset_import(
            name=request.POST.get("name") or upload.name.rsplit(".", 1)[0],
            text=upload.read().decode("utf-8", errors="strict"),
            exclude_invalid=bool(request.POST.get("exclude_invalid")),
            author=request.user,
        )
    except UnicodeDecodeError:
        messages.error(request, "The file is not UTF-8 text.")
        return redirect("finetune:overview")
    except DatasetRejected as exc:
        _problems(request, exc)
        return redirect("finetune:overview")
    return redirect("finetune:dataset", pk=dataset.pk)


@staff_member_required
def dataset_page(request, pk):
    from finetune.train_config import TrainConfig

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
        except JobRejected as exc:
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


@lru_cache(maxsize=1)
def _tokenizer():
    from transformers import AutoTokenizer

    from serving.model_files import ensure_base_model

    return AutoTokenizer.from_pretrained(ensure_base_model(Path(settings.WEFT_MODEL_DIR)))


def preflight_row(line: dict, *, manual: bool) -> list[tuple[str, bool]]:
    from finetune.train_data import preflight

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
    return render(request, "finetune/job.html", {"job": job})


@staff_member_required
@require_POST
def job_cancel(request, pk):
    finetune_job_cancel(job=get_object_or_404(FinetuneJob, pk=pk))
    return redirect("finetune:job", pk=pk)


@staff_member_required
@require_POST
def adapter_promote_view(request, name):
    adapter = get_object_or_404(Adapter, name=name)
    try:
        adapter_promote(adapter=adapter, user=request.user, reason=request.POST.get("reason", ""))
    except PromotionRefused as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"The chat now answers with {adapter.name}.")
    return redirect("finetune:overview")


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
