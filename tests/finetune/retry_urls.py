"""The project's URLs plus the retry and selectable routes, as finetune/urls.py and
finetune/api_urls.py name them (tests use it until those files carry the routes; it still
works after)."""

from django.urls import URLResolver, include, path

from finetune import retry_views, selectable_views
from finetune import urls as finetune_urls
from project import urls as project_urls

pages = [
    path("jobs/<int:pk>/retry/", retry_views.job_retry_view, name="job-retry"),
    path("evals/runs/<int:pk>/retry/", retry_views.eval_run_retry_view, name="eval-run-retry"),
    path(
        "adapters/<str:name>/selectable/",
        selectable_views.adapter_selectable_view,
        name="adapter-selectable",
    ),
]
api = [
    path("finetune/jobs/<int:pk>/retry/", retry_views.JobRetryApi.as_view(), name="api-job-retry"),
    path(
        "finetune/evals/<int:pk>/retry/",
        retry_views.EvalRunRetryApi.as_view(),
        name="api-eval-run-retry",
    ),
    path(
        "adapters/<str:name>/selectable/",
        selectable_views.AdapterSelectableApi.as_view(),
        name="api-adapter-selectable",
    ),
]


def _not_finetune_pages(pattern) -> bool:
    return not (isinstance(pattern, URLResolver) and pattern.namespace == "finetune")


urlpatterns = [
    path("finetune/", include((pages + finetune_urls.urlpatterns, "finetune"))),
    path("api/", include(api)),
    *filter(_not_finetune_pages, project_urls.urlpatterns),
]
