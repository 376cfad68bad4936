"""REST API of datasets, fine-tuning jobs and adapters (staff only)."""

from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import permissions, status
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from finetune.adapters import PromotionRefused, adapter_promote, adapter_rollback, adapter_zip
from finetune.datasets import (
    DatasetRejected,
    dataset_build_from_conversations,
    dataset_export,
    dataset_import,
)
from finetune.jobs import finetune_job_cancel, finetune_job_start
from finetune.models import Adapter, Dataset, FinetuneJob
from finetune.rejected import RequestRejected
from finetune.serializers import (
    AdapterSerializer,
    DatasetBuildSerializer,
    DatasetImportSerializer,
    DatasetSerializer,
    JobCreateSerializer,
    JobSerializer,
    PromoteSerializer,
)


class StaffApi(APIView):
    permission_classes = [permissions.IsAdminUser]


def _rejected(exc: DatasetRejected) -> ValidationError:
    return ValidationError(
        {"rows": [f"{where}: {problem}" for where, problem in exc.problems[:200]]}
    )


class DatasetListApi(StaffApi):
    parser_classes = [MultiPartParser, FormParser, JSONParser]

    @extend_schema(responses=DatasetSerializer(many=True))
    def get(self, request):
        return Response(DatasetSerializer(Dataset.objects.all(), many=True).data)

    @extend_schema(request=DatasetImportSerializer, responses={201: DatasetSerializer})
    def post(self, request):
        serializer = DatasetImportSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            text = data["file"].read().decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValidationError({"file": ["must be UTF-8 text"]}) from exc
        try:
            dataset = dataset_import(
                name=data["name"],
                text=text,
                author=request.user,
                exclude_invalid=data["exclude_invalid"],
            )
        except DatasetRejected as exc:
            raise _rejected(exc) from exc
        return Response(DatasetSerializer(dataset).data, status=status.HTTP_201_CREATED)


class DatasetBuildApi(StaffApi):
    @extend_schema(
        request=DatasetBuildSerializer,
        responses={201: DatasetSerializer},
        description="A new dataset version from accepted answers and corrections in the chat.",
    )
    def post(self, request):
        serializer = DatasetBuildSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            dataset = dataset_build_from_conversations(
                author=request.user, **serializer.validated_data
            )
        except DatasetRejected as exc:
            raise _rejected(exc) from exc
        return Response(DatasetSerializer(dataset).data, status=status.HTTP_201_CREATED)


class DatasetDetailApi(StaffApi):
    @extend_schema(responses=DatasetSerializer)
    def get(self, request, pk):
        return Response(DatasetSerializer(get_object_or_404(Dataset, pk=pk)).data)


class DatasetExportApi(StaffApi):
    @extend_schema(responses={(200, "application/jsonl"): str})
    def get(self, request, pk):
        dataset = get_object_or_404(Dataset, pk=pk)
        split = request.query_params.get("split")
        if split not in (None, "train", "eval"):
            raise ValidationError({"split": ["train or eval"]})
        response = StreamingHttpResponse(
            dataset_export(dataset, split=split), content_type="application/jsonl"
        )
        response["Content-Disposition"] = (
            f'attachment; filename="{dataset.name}-v{dataset.version}.jsonl"'
        )
        return response


class JobListApi(StaffApi):
    @extend_schema(responses=JobSerializer(many=True))
    def get(self, request):
        return Response(
            JobSerializer(FinetuneJob.objects.select_related("dataset"), many=True).data
        )

    @extend_schema(request=JobCreateSerializer, responses={201: JobSerializer})
    def post(self, request):
        serializer = JobCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            job = finetune_job_start(author=request.user, **serializer.validated_data)
        except RequestRejected as exc:
            raise ValidationError({"config": exc.problems}) from exc
        return Response(JobSerializer(job).data, status=status.HTTP_201_CREATED)


class JobDetailApi(StaffApi):
    @extend_schema(responses=JobSerializer)
    def get(self, request, pk):
        return Response(JobSerializer(get_object_or_404(FinetuneJob, pk=pk)).data)


class JobCancelApi(StaffApi):
    @extend_schema(request=None, responses=JobSerializer)
    def post(self, request, pk):
        job = finetune_job_cancel(job=get_object_or_404(FinetuneJob, pk=pk))
        return Response(JobSerializer(job).data)


class AdapterListApi(StaffApi):
    @extend_schema(responses=AdapterSerializer(many=True))
    def get(self, request):
        return Response(
            AdapterSerializer(Adapter.objects.select_related("dataset"), many=True).data
        )


class AdapterPromoteApi(StaffApi):
    @extend_schema(request=PromoteSerializer, responses={201: AdapterSerializer})
    def post(self, request, name):
        adapter = get_object_or_404(Adapter, name=name)
        serializer = PromoteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            adapter_promote(adapter=adapter, user=request.user, **serializer.validated_data)
        except PromotionRefused as exc:
            raise ValidationError({"non_field_errors": [str(exc)]}) from exc
        return Response(AdapterSerializer(adapter).data, status=status.HTTP_201_CREATED)


class AdapterRollbackApi(StaffApi):
    @extend_schema(request=None, responses={201: dict})
    def post(self, request):
        try:
            promotion = adapter_rollback(user=request.user)
        except PromotionRefused as exc:
            raise ValidationError({"non_field_errors": [str(exc)]}) from exc
        return Response(
            {"serving": promotion.adapter.name if promotion.adapter else "base"}, status=201
        )


class AdapterDownloadApi(StaffApi):
    @extend_schema(responses={(200, "application/zip"): bytes})
    def get(self, request, name):
        adapter = get_object_or_404(Adapter, name=name)
        response = HttpResponse(adapter_zip(adapter), content_type="application/zip")
        response["Content-Disposition"] = f'attachment; filename="{adapter.name}.zip"'
        return response
