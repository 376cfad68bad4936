"""REST API of datasets, fine-tuning jobs and adapters (staff only)."""

from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.utils.http import content_disposition_header
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import permissions, status
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from chat.models import Correction
from chat.services import ChatError, correction_review
from finetune.adapters import PromotionRefused, adapter_promote, adapter_rollback, adapter_zip
from finetune.conversation_rows import corrections_for_review
from finetune.datasets import (
    MAX_LISTED_PROBLEMS,
    DatasetRejected,
    DatasetTooLarge,
    dataset_build_from_conversations,
    dataset_export,
    dataset_export_filename,
    dataset_import,
    import_size_check,
    read_upload,
)
from finetune.jobs import finetune_job_cancel, finetune_job_start
from finetune.models import Adapter, Dataset, FinetuneJob
from finetune.rejected import RequestRejected
from finetune.serializers import (
    AdapterSerializer,
    CorrectionReviewItemSerializer,
    CorrectionReviewSerializer,
    DatasetBuildSerializer,
    DatasetImportSerializer,
    DatasetSerializer,
    JobCreateSerializer,
    JobSerializer,
    PromoteSerializer,
    RollbackSerializer,
)
from widgets.api_responses import refusals
from widgets.json_input import StrictJSONParser


class StaffApi(APIView):
    permission_classes = [permissions.IsAdminUser]
    parser_classes = [StrictJSONParser]


class FileTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "too_large"


class Conflict(APIException):
    """A valid request the stored state refuses; the body says why, field by field."""

    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"


def _rejected(exc: DatasetRejected) -> ValidationError:
    return ValidationError({"rows": exc.messages()})


def _content_length(request) -> int:
    try:
        return max(0, int(request.META.get("CONTENT_LENGTH") or 0))
    except ValueError:
        return 0  # as Django reads it: no body


class DatasetListApi(StaffApi):
    parser_classes = [MultiPartParser]  # a file upload

    def initial(self, request, *args, **kwargs):
        # Before authentication, whose CSRF check (session logins) parses the whole body.
        if request.method == "POST":
            try:
                import_size_check(body_bytes=_content_length(request))
            except DatasetTooLarge as exc:
                raise FileTooLarge({"file": [str(exc)]}) from exc
        super().initial(request, *args, **kwargs)

    @extend_schema(responses={200: DatasetSerializer(many=True), **refusals(403)})
    def get(self, request):
        return Response(DatasetSerializer(Dataset.objects.all(), many=True).data)

    @extend_schema(
        request=DatasetImportSerializer,
        responses={
            201: DatasetSerializer,
            **refusals(400, 403),
            413: OpenApiResponse(
                OpenApiTypes.OBJECT,
                description="The file is larger than WEFT_DATASET_MAX_BYTES (checked before "
                "the body is read, so before signing in) or longer than "
                "WEFT_DATASET_MAX_LINES; `file` says which.",
            ),
        },
        description=f"At most the first {MAX_LISTED_PROBLEMS} problems are listed under `rows`, "
        "then how many more.",
    )
    def post(self, request):
        serializer = DatasetImportSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            dataset = dataset_import(
                name=data["name"],
                text=read_upload(data["file"]),
                author=request.user,
                exclude_invalid=data["exclude_invalid"],
            )
        except UnicodeDecodeError as exc:
            raise ValidationError({"file": ["must be UTF-8 text"]}) from exc
        except DatasetTooLarge as exc:
            raise FileTooLarge({"file": [str(exc)]}) from exc
        except DatasetRejected as exc:
            raise _rejected(exc) from exc
        return Response(DatasetSerializer(dataset).data, status=status.HTTP_201_CREATED)


class DatasetBuildApi(StaffApi):
    @extend_schema(
        request=DatasetBuildSerializer,
        responses={201: DatasetSerializer, **refusals(400, 403, 409)},
        description="A new dataset version from accepted answers and corrections in the chat. "
        "409: the conversations hold no row to store, or rows that fail the dataset checks "
        "(listed under `rows`; `exclude_invalid` leaves those out).",
    )
    def post(self, request):
        serializer = DatasetBuildSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            dataset = dataset_build_from_conversations(
                author=request.user, **serializer.validated_data
            )
        except DatasetRejected as exc:
            # The rows come from the chat, not from this request: a conflict with what is
            # stored, where an import's bad rows (its own file) are a 400.
            raise Conflict(_rejected(exc).detail) from exc
        return Response(DatasetSerializer(dataset).data, status=status.HTTP_201_CREATED)


class DatasetDetailApi(StaffApi):
    @extend_schema(responses={200: DatasetSerializer, **refusals(403, 404)})
    def get(self, request, pk):
        return Response(DatasetSerializer(get_object_or_404(Dataset, pk=pk)).data)


class DatasetExportApi(StaffApi):
    @extend_schema(
        parameters=[
            OpenApiParameter("split", enum=["train", "eval"], description="Default: both.")
        ],
        responses={(200, "application/jsonl"): str, **refusals(400, 403, 404)},
    )
    def get(self, request, pk):
        dataset = get_object_or_404(Dataset, pk=pk)
        split = request.query_params.get("split")
        if split not in (None, "train", "eval"):
            raise ValidationError({"split": ["train or eval"]})
        response = StreamingHttpResponse(
            dataset_export(dataset, split=split), content_type="application/jsonl"
        )
        # Django's helper quotes or percent-encodes the name: no name can break the header.
        response["Content-Disposition"] = content_disposition_header(
            as_attachment=True, filename=dataset_export_filename(dataset)
        )
        return response


class JobListApi(StaffApi):
    @extend_schema(responses={200: JobSerializer(many=True), **refusals(403)})
    def get(self, request):
        return Response(
            JobSerializer(FinetuneJob.objects.select_related("dataset"), many=True).data
        )

    @extend_schema(
        request=JobCreateSerializer, responses={201: JobSerializer, **refusals(400, 403)}
    )
    def post(self, request):
        serializer = JobCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            job = finetune_job_start(author=request.user, **serializer.validated_data)
        except RequestRejected as exc:
            raise ValidationError({"config": exc.problems}) from exc
        return Response(JobSerializer(job).data, status=status.HTTP_201_CREATED)


class JobDetailApi(StaffApi):
    @extend_schema(responses={200: JobSerializer, **refusals(403, 404)})
    def get(self, request, pk):
        return Response(JobSerializer(get_object_or_404(FinetuneJob, pk=pk)).data)


class JobCancelApi(StaffApi):
    @extend_schema(request=None, responses={200: JobSerializer, **refusals(403, 404)})
    def post(self, request, pk):
        job = finetune_job_cancel(job=get_object_or_404(FinetuneJob, pk=pk))
        return Response(JobSerializer(job).data)


class AdapterListApi(StaffApi):
    @extend_schema(responses={200: AdapterSerializer(many=True), **refusals(403)})
    def get(self, request):
        return Response(
            AdapterSerializer(Adapter.objects.select_related("dataset"), many=True).data
        )


class AdapterPromoteApi(StaffApi):
    @extend_schema(
        request=PromoteSerializer,
        responses={201: AdapterSerializer, **refusals(400, 403, 404)},
        description="400: the evaluation gate did not pass (and no `override_reason`), or the "
        "adapter's files are missing.",
    )
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
    @extend_schema(
        request=None,
        responses={201: RollbackSerializer, **refusals(403, 409)},
        description="409: nothing was promoted before the current promotion.",
    )
    def post(self, request):
        try:
            promotion = adapter_rollback(user=request.user)
        except PromotionRefused as exc:
            raise Conflict({"non_field_errors": [str(exc)]}) from exc
        return Response(
            {"serving": promotion.adapter.name if promotion.adapter else "base"}, status=201
        )


class AdapterDownloadApi(StaffApi):
    @extend_schema(responses={(200, "application/zip"): bytes, **refusals(403, 404)})
    def get(self, request, name):
        adapter = get_object_or_404(Adapter, name=name)
        response = HttpResponse(adapter_zip(adapter), content_type="application/zip")
        response["Content-Disposition"] = content_disposition_header(
            as_attachment=True, filename=f"{adapter.name}.zip"
        )
        return response


# ---------------------------------------------------------------- corrections to review

REVIEW_STATES = [*Correction.Review.values, "all"]


class CorrectionReviewListApi(StaffApi):
    @extend_schema(
        parameters=[
            OpenApiParameter(
                "review", enum=REVIEW_STATES, default="pending", description="Which to list."
            )
        ],
        responses={200: CorrectionReviewItemSerializer(many=True), **refusals(400, 403)},
        description="Corrections users wrote, oldest first. Only accepted ones become "
        "training rows (datasets built from the chat).",
    )
    def get(self, request):
        review = request.query_params.get("review", Correction.Review.PENDING)
        if review not in REVIEW_STATES:
            raise ValidationError({"review": [f"one of {', '.join(REVIEW_STATES)}"]})
        corrections = corrections_for_review(review=None if review == "all" else review)
        return Response(CorrectionReviewItemSerializer(corrections, many=True).data)


class CorrectionReviewApi(StaffApi):
    @extend_schema(
        request=CorrectionReviewSerializer,
        responses={200: CorrectionReviewItemSerializer, **refusals(400, 403, 404)},
        description="Accept (the correction becomes a training row) or reject a correction; "
        "a later decision replaces an earlier one.",
    )
    def post(self, request, pk):
        correction = get_object_or_404(Correction, pk=pk)
        serializer = CorrectionReviewSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        accept = serializer.validated_data["decision"] == "accept"
        try:
            correction_review(correction=correction, accept=accept, reviewer=request.user)
        except ChatError as exc:
            raise ValidationError({exc.field: [str(exc)]}, code=exc.code) from exc
        reviewed = corrections_for_review(review=None).get(pk=pk)
        return Response(CorrectionReviewItemSerializer(reviewed).data)
