"""Adapters: promote one to the chat (behind the evaluation gate), roll back, package it,
and make sure it is loaded."""

import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import transaction

from finetune.models import Adapter, EvalRun, Promotion
from serving.backend import BASE_MODEL, BackendError
from serving.served import ServedModel, ensure_loaded, served_model

# Validity and field accuracy counted over what the reference asks for. The spec's own
# `validity` and `field_accuracy` count only what the model emitted, so a model that emits
# almost nothing scores best: prompted base SmolLM2 emitted 5 widgets on the demo's 53 eval
# rows, all valid (validity 100%), and out-scored an adapter with 75 (81%). valid_coverage
# divides valid widgets by the widgets expected or emitted, and field_recall counts the
# fields of missing widgets as misses.
GATE_METRICS = ("valid_coverage", "field_recall")


class PromotionRefused(Exception):
    pass


def promoted_adapter() -> Adapter | None:
    latest = Promotion.objects.select_related("adapter").first()
    return latest.adapter if latest else None


def _served(adapter: Adapter | None) -> ServedModel | None:
    if adapter is None:
        return None
    return ServedModel(
        name=adapter.name,
        manual_prompt=adapter.manual_prompt,
        path=adapter.path,
        selectable=adapter.selectable,
    )


class AdapterCatalogue:
    """serving.served's catalogue: registered adapters, and the promoted one."""

    def promoted(self) -> ServedModel | None:
        return _served(promoted_adapter())

    def named(self, name: str) -> ServedModel | None:
        return _served(Adapter.objects.filter(name=name).first())

    def adapters(self) -> list[ServedModel]:
        return [_served(adapter) for adapter in Adapter.objects.all()]


def adapter_selectable_set(*, adapter: Adapter, selectable: bool) -> Adapter:
    """Offer `adapter` in every chat user's model picker, or only to staff again."""
    adapter.selectable = selectable
    adapter.save(update_fields=["selectable"])
    return adapter


# ---------------------------------------------------------------- the promotion gate


@dataclass(frozen=True, kw_only=True)
class GateVerdict:
    passed: bool
    message: str
    candidate: EvalRun | None = None  # the run of the model to promote
    baseline: EvalRun | None = None  # the served model's run on the same data


def _gated_runs(*, model_name: str, manual_prompt: bool, constrained: bool):
    """Runs the gate accepts: whole eval splits of frozen datasets, newest first."""
    return EvalRun.objects.filter(
        status=EvalRun.Status.SUCCEEDED, model_name=model_name, manual_prompt=manual_prompt,
        constrained=constrained, split="eval", dataset__frozen=True, limit__isnull=True,
    ).select_related("dataset")  # fmt: skip


def _score(run: EvalRun, metric: str) -> float:
    # None: no widget was expected or emitted on the split (all prose), nothing to fault.
    value = run.summary[metric]
    return 1.0 if value is None else value


def _what_to_run(name: str, manual: bool, constrained: bool, dataset=None) -> str:
    where = (
        f"--dataset {dataset.name} --dataset-version {dataset.version}"
        if dataset
        else "--dataset NAME"
    )
    flags = (" --constrained" if constrained else "") + ("" if manual else " --prompt short")
    return (
        f"evaluate {name} ({'manual' if manual else 'short'} prompt, "
        f"{'constrained' if constrained else 'free'} decoding, as the chat serves it) on "
        f"{dataset or 'a dataset'}'s eval split: Evaluate on /finetune/evals/, or "
        f"`manage.py evaluate {where} --model {name}{flags}`"
    )


def promotion_gate(*, adapter: Adapter | None) -> GateVerdict:
    """Whether `adapter` (None: the base model) scores at least as well as the served model.

    Both must have a succeeded run on the same frozen dataset version's eval split, each with
    the prompt form it is served with and the chat's decoding (WEFT_CHAT_CONSTRAINED); the
    newest such pair is compared on GATE_METRICS: validity and field accuracy, both counted
    over the widgets the reference asks for.
    """
    constrained = settings.WEFT_CHAT_CONSTRAINED
    served, served_manual = served_model().name, served_model().manual_prompt
    name, manual = (adapter.name, adapter.manual_prompt) if adapter else (BASE_MODEL, True)
    if name == served:
        return GateVerdict(passed=True, message=f"{name} is what the chat serves already.")
    candidates = list(
        _gated_runs(model_name=name, manual_prompt=manual, constrained=constrained)[:20]
    )
    if not candidates:
        return GateVerdict(
            passed=False,
            message=f"No evaluation of {name} to judge it by: "
            f"{_what_to_run(name, manual, constrained)}.",
        )
    for run in candidates:
        baseline = (
            _gated_runs(model_name=served, manual_prompt=served_manual, constrained=constrained)
            .filter(dataset=run.dataset)
            .first()
        )
        if baseline is not None:
            break
    else:
        return GateVerdict(
            passed=False,
            candidate=candidates[0],
            message=f"No evaluation of the served model to compare {name} with: "
            f"{_what_to_run(served, served_manual, constrained, candidates[0].dataset)}.",
        )
    stale = [r for r in (run, baseline) if any(m not in r.summary for m in GATE_METRICS)]
    if stale:
        return GateVerdict(
            passed=False,
            candidate=run,
            baseline=baseline,
            message=f"Evaluation #{stale[0].pk} ({stale[0].model_name}) predates the gate's "
            f"metrics ({', '.join(GATE_METRICS)}): evaluate it again.",
        )
    compared = ", ".join(
        f"{m} {_score(run, m):.3f} vs {_score(baseline, m):.3f}" for m in GATE_METRICS
    )
    worse = [m for m in GATE_METRICS if _score(run, m) < _score(baseline, m)]
    verdict = (
        f"{name} is worse than {served} on {' and '.join(worse)}"
        if worse
        else f"{name} is at least as good as {served}"
    )
    return GateVerdict(
        passed=not worse,
        candidate=run,
        baseline=baseline,
        message=f"{verdict} on {run.dataset} eval (evaluations #{run.pk} and #{baseline.pk}: "
        f"{compared}).",
    )


# ---------------------------------------------------------------- promotion and rollback


def _serve(*, adapter: Adapter | None, user, reason: str, **gate) -> Promotion:
    if adapter is not None:
        try:
            ensure_loaded(adapter.name)
        except BackendError as exc:
            raise PromotionRefused(f"{adapter.name} could not be loaded: {exc.message}") from exc
    return Promotion.objects.create(adapter=adapter, promoted_by=user, reason=reason, **gate)


@transaction.atomic
def adapter_promote(
    *, adapter: Adapter | None, user=None, reason: str = "", override_reason: str = ""
) -> Promotion:
    """Make `adapter` (None: the base model) what the chat serves; loads it with no restart.

    It must pass the evaluation gate (promotion_gate), unless a staff user overrides a failed
    gate with a reason; the verdict, the two runs and the override are recorded.
    """
    if adapter is not None and not Path(adapter.path, "adapter_config.json").is_file():
        raise PromotionRefused(f"{adapter.name}: its files are missing at {adapter.path}")
    verdict = promotion_gate(adapter=adapter)
    override_reason = override_reason.strip()
    if not verdict.passed:
        if not override_reason:
            raise PromotionRefused(verdict.message)
        if user is None or not user.is_staff:
            raise PromotionRefused("Only a staff user can override the evaluation gate.")
    return _serve(
        adapter=adapter,
        user=user,
        reason=reason,
        gate_passed=verdict.passed,
        candidate_run=verdict.candidate,
        baseline_run=verdict.baseline,
        override_reason="" if verdict.passed else override_reason,
    )


@transaction.atomic
def adapter_rollback(*, user=None) -> Promotion:
    """Serve again what was promoted before the current promotion.

    Not gated: it is the emergency exit when the served model misbehaves, and it returns to
    a model that was already judged when it was promoted.
    """
    history = list(Promotion.objects.select_related("adapter")[:2])
    if len(history) < 2:
        raise PromotionRefused("nothing to roll back to")
    return _serve(
        adapter=history[1].adapter,
        user=user,
        reason=f"roll back from {history[0]} (rollback is not gated: the emergency exit)",
    )


def adapter_zip(adapter: Adapter) -> bytes:
    """The adapter folder as a zip that plain peft and vLLM load (plus how it was trained)."""
    folder = Path(adapter.path)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, f"{adapter.name}/{path.relative_to(folder)}")
        card = {
            "name": adapter.name,
            "base_model": "SmolLM2-135M-Instruct",
            "prompt": "manual" if adapter.manual_prompt else "short",
            "dataset": str(adapter.dataset),
            "rows": len(adapter.row_ids),
            "metrics": adapter.metrics,
            "config": adapter.config,
        }
        archive.writestr(f"{adapter.name}/weft.json", json.dumps(card, indent=2))
    return buffer.getvalue()
