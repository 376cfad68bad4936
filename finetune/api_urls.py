from django.urls import path

from finetune import api, retry_views, selectable_views

urlpatterns = [
    path("datasets/", api.DatasetListApi.as_view(), name="api-datasets"),
    path("datasets/build/", api.DatasetBuildApi.as_view(), name="api-dataset-build"),
    path("datasets/<int:pk>/", api.DatasetDetailApi.as_view(), name="api-dataset"),
    path("datasets/<int:pk>/export/", api.DatasetExportApi.as_view(), name="api-dataset-export"),
    path("finetune/jobs/", api.JobListApi.as_view(), name="api-jobs"),
    path("finetune/jobs/<int:pk>/", api.JobDetailApi.as_view(), name="api-job"),
    path("finetune/jobs/<int:pk>/cancel/", api.JobCancelApi.as_view(), name="api-job-cancel"),
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
    path(
        "finetune/corrections/",
        api.CorrectionReviewListApi.as_view(),
        name="api-corrections-to-review",
    ),
    path(
        "finetune/corrections/<int:pk>/review/",
        api.CorrectionReviewApi.as_view(),
        name="api-correction-review",
    ),
    path("adapters/", api.AdapterListApi.as_view(), name="api-adapters"),
    path("adapters/rollback/", api.AdapterRollbackApi.as_view(), name="api-adapter-rollback"),
    path(
        "adapters/<str:name>/promote/", api.AdapterPromoteApi.as_view(), name="api-adapter-promote"
    ),
    path(
        "adapters/<str:name>/download/",
        api.AdapterDownloadApi.as_view(),
        name="api-adapter-download",
    ),
]
