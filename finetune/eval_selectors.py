"""Reads of evaluation runs: the comparison's columns and rows, failing cases, progress."""

from dataclasses import dataclass, field

from django.db.models import Q

from finetune.eval_runs import COMPARISON
from finetune.models import Adapter, Dataset, EvalRun

OVERALL_METRICS = (
    "validity",
    "valid_coverage",
    "type_accuracy",
    "field_accuracy",
    "field_recall",
    "hallucinated_values",
    "latency_p50_s",
    "tokens_per_s",
    "n",
)
WIDGET_METRICS = ("validity", "type_accuracy", "field_accuracy", "field_recall", "n")
CHART_METRICS = ("validity", "type_accuracy", "field_accuracy", "field_recall")


@dataclass(frozen=True, kw_only=True)
class Column:
    label: str
    run: EvalRun | None  # None: this configuration has not been evaluated yet


@dataclass(frozen=True, kw_only=True)
class Cell:
    value: float | int | None
    run: EvalRun | None
    widget: str | None = None


@dataclass(frozen=True, kw_only=True)
class Row:
    metric: str
    widget: str | None = None
    cells: list[Cell] = field(default_factory=list)


def default_dataset() -> Dataset | None:
    """The latest `demo` version, else the newest dataset."""
    return (
        Dataset.objects.filter(name="demo").order_by("-version").first()
        or Dataset.objects.order_by("-created", "-id").first()
    )


def comparable_runs(*, dataset: Dataset):
    """Runs on the whole eval split of `dataset` (smoke tests with a row limit are not)."""
    return EvalRun.objects.filter(dataset=dataset, split="eval", limit__isnull=True)


def comparison_columns(
    *, dataset: Dataset, adapter: Adapter | None, extra: list[int] = ()
) -> list[Column]:
    """The latest succeeded run of each of the four configurations, then the ticked runs."""
    columns = []
    succeeded = comparable_runs(dataset=dataset).filter(status=EvalRun.Status.SUCCEEDED)
    if adapter is not None:
        for config in COMPARISON:
            run = succeeded.filter(
                model_name=config.model_name(adapter),
                manual_prompt=config.manual_prompt(adapter),
                constrained=config.constrained,
            ).first()
            columns.append(Column(label=config.label(adapter), run=run))
    shown = {c.run.pk for c in columns if c.run}
    for run in EvalRun.objects.filter(pk__in=list(extra), status=EvalRun.Status.SUCCEEDED):
        if run.pk not in shown:
            columns.append(Column(label=f"#{run.pk} {run.label} ({run.source})", run=run))
    return columns


def comparison_rows(columns: list[Column]) -> list[Row]:
    """Each metric overall, then each metric per widget type (every type any column saw)."""
    summaries = [c.run.summary if c.run else {} for c in columns]
    rows = [
        Row(
            metric=metric,
            cells=[
                Cell(value=s.get(metric), run=c.run)
                for s, c in zip(summaries, columns, strict=True)
            ],
        )
        for metric in OVERALL_METRICS
    ]
    widgets = sorted({w for s in summaries for w in s.get("per_widget", {})})
    for widget in widgets:
        for metric in WIDGET_METRICS:
            cells = [
                Cell(
                    value=s.get("per_widget", {}).get(widget, {}).get(metric),
                    run=c.run,
                    widget=widget,
                )
                for s, c in zip(summaries, columns, strict=True)
            ]
            rows.append(Row(metric=metric, widget=widget, cells=cells))
    return rows


def chart_series(columns: list[Column]) -> list[tuple[str, list[float | None]]]:
    return [(c.label, [c.run.summary.get(m) for m in CHART_METRICS]) for c in columns if c.run]


def recent_runs(*, limit: int = 30):
    """Queued and running runs first (their progress), then the latest finished ones."""
    active = EvalRun.objects.filter(
        Q(status=EvalRun.Status.QUEUED) | Q(status=EvalRun.Status.RUNNING)
    ).select_related("dataset")
    finished = EvalRun.objects.exclude(pk__in=active.values("pk")).select_related("dataset")
    return list(active) + list(finished[:limit])


def failing_cases(run: EvalRun, *, widget: str | None = None) -> list[dict]:
    """Scored cases with problems; with `widget`, those whose reference or output has one."""
    return [
        case
        for case in run.cases
        if case.get("failed")
        and (widget is None or any(b["type"] == widget for b in case["expected"] + case["emitted"]))
    ]
