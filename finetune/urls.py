from django.urls import path

from finetune import retry_views, selectable_views, views

app_name = "finetune"
urlpatterns = [
    path("", views.overview, name="overview"),
    path("datasets/build/", views.dataset_build, name="dataset-build"),
    path("datasets/upload/", views.dataset_upload, name="dataset-upload"),
    path("datasets/<int:pk>/", views.dataset_page, name="dataset"),
    # `path`, not `str`: rows imported before ids were checked may hold a "/".
    path("datasets/<int:pk>/rows/<path:row_id>/", views.preflight_page, name="preflight"),
    path("corrections/", views.corrections_page, name="corrections"),
    path("corrections/<int:pk>/review/", views.correction_review_view, name="correction-review"),
    path("jobs/<int:pk>/", views.job_page, name="job"),
    path("jobs/<int:pk>/cancel/", views.job_cancel, name="job-cancel"),
    path("jobs/<int:pk>/retry/", retry_views.job_retry_view, name="job-retry"),
    path(
        "adapters/<str:name>/selectable/",
        selectable_views.adapter_selectable_view,
        name="adapter-selectable",
    ),
    path("adapters/<str:name>/promote/", views.adapter_promote_view, name="adapter-promote"),
    path("adapters/rollback/", views.adapter_rollback_view, name="adapter-rollback"),
    path("evals/", views.evals_page, name="evals"),
    path("evals/queue/", views.evals_queue, name="evals-queue"),
    path("evals/runs/<int:pk>/", views.eval_run_page, name="eval-run"),
    path("evals/runs/<int:pk>/cancel/", views.eval_run_cancel_view, name="eval-run-cancel"),
    path("evals/runs/<int:pk>/retry/", retry_views.eval_run_retry_view, name="eval-run-retry"),
]
