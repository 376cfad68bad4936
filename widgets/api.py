"""REST API of the widget registry: everyone signed in reads, staff write."""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Prefetch
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import permissions, status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from widgets.api_responses import refusals
from widgets.json_input import StrictJSONParser
from widgets.models import WidgetSchemaVersion, WidgetType
from widgets.serializers import (
    WidgetTypeCreateSerializer,
    WidgetTypeSerializer,
    WidgetTypeUpdateSerializer,
    WidgetVersionCreateSerializer,
    WidgetVersionSerializer,
)
from widgets.services import (
    RegistryError,
    VersionContentError,
    widget_type_create,
    widget_type_update,
    widget_version_activate,
    widget_version_create,
)

_OPEN_HOUSE_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["mls_id", "starts"],
    "properties": {
        "mls_id": {"type": "string", "pattern": "^[A-Z]{2}-[0-9]{4,8}$"},
        "starts": {"type": "string", "format": "date-time"},
    },
}
_OPEN_HOUSE_EXAMPLES = [{"mls_id": "TX-10492", "starts": "2026-03-14T10:00:00-05:00"}]
WIDGET_TYPE_EXAMPLE = OpenApiExample(
    "A new widget type",
    request_only=True,
    value={
        "name": "open_house",
        "title": "Open house",
        "description": "When a listing can be visited without an appointment.",
        "json_schema": _OPEN_HOUSE_SCHEMA,
        "examples": _OPEN_HOUSE_EXAMPLES,
    },
)
WIDGET_VERSION_EXAMPLE = OpenApiExample(
    "A new version",
    request_only=True,
    value={"json_schema": _OPEN_HOUSE_SCHEMA, "examples": _OPEN_HOUSE_EXAMPLES},
)


class ReadOrStaffWrite(permissions.BasePermission):
    def has_permission(self, request, view):
        if not (request.user and request.user.is_authenticated):
            return False
        return request.method in permissions.SAFE_METHODS or request.user.is_staff


def _widgets():
    return WidgetType.objects.prefetch_related(
        Prefetch("versions", queryset=WidgetSchemaVersion.objects.filter(is_active=True))
    )


def _registry_call(service, **kwargs):
    """Service errors as DRF validation errors: field -> messages, each naming its JSON pointer."""
    try:
        return service(**kwargs)
    except VersionContentError as exc:
        raise ValidationError(exc.errors) from exc
    except DjangoValidationError as exc:
        raise ValidationError(exc.message_dict) from exc
    except RegistryError as exc:
        raise ValidationError({"non_field_errors": [str(exc)]}, code=exc.code) from exc


class RegistryApi(APIView):
    permission_classes = [ReadOrStaffWrite]
    parser_classes = [StrictJSONParser]  # schemas and examples are JSON documents, not forms


class WidgetListApi(RegistryApi):
    @extend_schema(responses={200: WidgetTypeSerializer(many=True), **refusals(403)})
    def get(self, request):
        return Response(WidgetTypeSerializer(_widgets(), many=True).data)

    @extend_schema(
        request=WidgetTypeCreateSerializer,
        responses={201: WidgetTypeSerializer, **refusals(400, 403)},
        examples=[WIDGET_TYPE_EXAMPLE],
    )
    def post(self, request):
        serializer = WidgetTypeCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        if WidgetType.objects.filter(name=data["name"]).exists():
            raise ValidationError({"name": [f"widget type {data['name']!r} exists"]})
        widget = _registry_call(widget_type_create, author=request.user, **data)
        return Response(
            WidgetTypeSerializer(_widgets().get(pk=widget.pk)).data, status=status.HTTP_201_CREATED
        )


class WidgetDetailApi(RegistryApi):
    @extend_schema(responses={200: WidgetTypeSerializer, **refusals(403, 404)})
    def get(self, request, name):
        return Response(WidgetTypeSerializer(get_object_or_404(_widgets(), name=name)).data)

    @extend_schema(
        request=WidgetTypeUpdateSerializer,
        responses={200: WidgetTypeSerializer, **refusals(400, 403, 404)},
    )
    def patch(self, request, name):
        widget = get_object_or_404(WidgetType, name=name)
        serializer = WidgetTypeUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        _registry_call(widget_type_update, widget=widget, **serializer.validated_data)
        return Response(WidgetTypeSerializer(_widgets().get(pk=widget.pk)).data)


class WidgetVersionListApi(RegistryApi):
    @extend_schema(responses={200: WidgetVersionSerializer(many=True), **refusals(403, 404)})
    def get(self, request, name):
        widget = get_object_or_404(WidgetType, name=name)
        versions = widget.versions.select_related("author").order_by("-version")
        return Response(WidgetVersionSerializer(versions, many=True).data)

    @extend_schema(
        request=WidgetVersionCreateSerializer,
        responses={201: WidgetVersionSerializer, **refusals(400, 403, 404)},
        examples=[WIDGET_VERSION_EXAMPLE],
    )
    def post(self, request, name):
        widget = get_object_or_404(WidgetType, name=name)
        serializer = WidgetVersionCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        version = _registry_call(
            widget_version_create, widget=widget, author=request.user, **serializer.validated_data
        )
        return Response(WidgetVersionSerializer(version).data, status=status.HTTP_201_CREATED)


class WidgetVersionActivateApi(RegistryApi):
    @extend_schema(
        request=None, responses={200: WidgetVersionSerializer, **refusals(400, 403, 404)}
    )
    def post(self, request, name, version):
        target = get_object_or_404(WidgetSchemaVersion, widget__name=name, version=version)
        version = _registry_call(widget_version_activate, version=target)
        return Response(WidgetVersionSerializer(version).data)
