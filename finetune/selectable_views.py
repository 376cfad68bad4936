"""Staff choose which adapters every chat user may pick (Adapter.selectable); staff may pick
any adapter, and everyone the promoted one (serving.served.may_pick).

Routes, in finetune/urls.py:      adapters/<name>/selectable/ (adapter-selectable);
in finetune/api_urls.py:          adapters/<name>/selectable/ (api-adapter-selectable).
"""

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_POST
from drf_spectacular.utils import extend_schema
from rest_framework import permissions, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from finetune.adapters import adapter_selectable_set
from finetune.models import Adapter
from widgets.api_fields import StrictBooleanField
from widgets.api_responses import refusals
from widgets.json_input import StrictJSONParser


@staff_member_required
@require_POST
def adapter_selectable_view(request, name):
    adapter = get_object_or_404(Adapter, name=name)
    adapter_selectable_set(adapter=adapter, selectable=request.POST.get("selectable") == "1")
    messages.success(
        request,
        f"Every chat user may now pick {adapter.name}."
        if adapter.selectable
        else f"Only staff may pick {adapter.name} now (and everyone while it is promoted).",
    )
    return redirect("finetune:overview")


class AdapterSelectableSerializer(serializers.ModelSerializer):
    selectable = StrictBooleanField()  # true or false, not "yes" or 1

    class Meta:
        model = Adapter
        fields = ["name", "selectable"]
        read_only_fields = ["name"]


class AdapterSelectableApi(APIView):
    permission_classes = [permissions.IsAdminUser]
    parser_classes = [StrictJSONParser]

    @extend_schema(
        request=AdapterSelectableSerializer,
        responses={200: AdapterSelectableSerializer, **refusals(400, 403, 404)},
        description="Whether every chat user may pick this adapter (staff may pick any).",
    )
    def put(self, request, name):
        adapter = get_object_or_404(Adapter, name=name)
        serializer = AdapterSelectableSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        adapter = adapter_selectable_set(
            adapter=adapter, selectable=serializer.validated_data["selectable"]
        )
        return Response(AdapterSelectableSerializer(adapter).data)
