"""The refusals every Weft API answers, described once for drf-spectacular's `responses=`.

Each view lists the ones it can give (`refusals(400, 403, 404)`), so the schema documents
every status an operation returns; tests/project/test_api_fuzz.py holds the API to it.

DRF writes them all as JSON. A 400 maps each field to its messages (`non_field_errors` for
the request as a whole; a body that is not JSON gets `detail` instead). The others carry one
`detail`. Signed out is 403, not 401: SessionAuthentication comes first in REST_FRAMEWORK,
and it sends no WWW-Authenticate challenge, which a 401 needs.
"""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers


class ErrorDetailSerializer(serializers.Serializer):
    detail = serializers.CharField()


_REFUSALS = {
    400: OpenApiResponse(
        OpenApiTypes.OBJECT,
        description="The request is invalid: each field maps to a list of messages "
        "(`non_field_errors`: the request as a whole; `detail`: a body that is not JSON).",
    ),
    403: OpenApiResponse(
        ErrorDetailSerializer, description="Not signed in, or not allowed to do this."
    ),
    404: OpenApiResponse(ErrorDetailSerializer, description="No such object, or not yours."),
    409: OpenApiResponse(
        OpenApiTypes.OBJECT,
        description="Valid, but refused in the current state: each field maps to a list of "
        "messages that say why.",
    ),
}


def refusals(*statuses: int) -> dict[int, OpenApiResponse]:
    """The documented refusals for these statuses, to merge into `responses=`."""
    return {status: _REFUSALS[status] for status in statuses}
