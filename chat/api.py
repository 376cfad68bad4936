"""REST API of conversations. Everything is scoped to the requesting user: others' rows are 404."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from chat.models import Conversation, Message
from chat.serializers import (
    ActionDecisionSerializer,
    ActionRunSerializer,
    ConversationSerializer,
    CorrectionCreateSerializer,
    CorrectionSerializer,
    FeedbackSerializer,
    MessageCreateSerializer,
    MessageSerializer,
    ModelChoiceSerializer,
    RegenerateSerializer,
)
from chat.services import (
    ChatError,
    action_decide,
    chat_message_create,
    chat_reply_regenerate,
    conversation_create,
    correction_create,
    feedback_set,
)
from serving.backend import BASE_MODEL
from serving.served import models_for, served_model
from widgets.api_responses import refusals
from widgets.json_input import StrictJSONParser


def own_conversation(request, pk) -> Conversation:
    return get_object_or_404(Conversation, pk=pk, owner=request.user)


def own_message(request, pk) -> Message:
    return get_object_or_404(
        Message.objects.select_related("conversation"), pk=pk, conversation__owner=request.user
    )


def own_reply(request, pk) -> Message:
    """An assistant reply of the user's: feedback, corrections, regeneration and action cards
    exist only on replies, so a user message's id is a 404 there, as any other."""
    return get_object_or_404(
        Message.objects.select_related("conversation"),
        pk=pk,
        conversation__owner=request.user,
        role=Message.Role.ASSISTANT,
    )


def _call(service, **kwargs):
    try:
        return service(**kwargs)
    except ChatError as exc:
        raise ValidationError({exc.field: [str(exc)]}, code=exc.code) from exc


def _messages():
    return Message.objects.select_related("feedback").prefetch_related("corrections", "action_runs")


class ChatApi(APIView):
    parser_classes = [StrictJSONParser]


class ConversationListApi(ChatApi):
    @extend_schema(responses={200: ConversationSerializer(many=True), **refusals(403)})
    def get(self, request):
        conversations = Conversation.objects.filter(owner=request.user)
        return Response(ConversationSerializer(conversations, many=True).data)

    @extend_schema(
        request=ConversationSerializer,
        responses={201: ConversationSerializer, **refusals(400, 403)},
    )
    def post(self, request):
        serializer = ConversationSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        conversation = conversation_create(owner=request.user, **serializer.validated_data)
        return Response(ConversationSerializer(conversation).data, status=status.HTTP_201_CREATED)


class ConversationDetailApi(ChatApi):
    @extend_schema(responses={200: ConversationSerializer, **refusals(403, 404)})
    def get(self, request, pk):
        return Response(ConversationSerializer(own_conversation(request, pk)).data)


class MessageListApi(ChatApi):
    @extend_schema(responses={200: MessageSerializer(many=True), **refusals(403, 404)})
    def get(self, request, pk):
        conversation = own_conversation(request, pk)
        return Response(
            MessageSerializer(_messages().filter(conversation=conversation), many=True).data
        )

    @extend_schema(
        request=MessageCreateSerializer,
        responses={201: MessageSerializer(many=True), **refusals(400, 403, 404)},
        description="Posts the user's message and starts the assistant's reply. The reply "
        "streams from its `stream_url` (Server-Sent Events).",
    )
    def post(self, request, pk):
        conversation = own_conversation(request, pk)
        serializer = MessageCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        user_message, reply = _call(
            chat_message_create,
            conversation=conversation,
            text=data["text"],
            model_name=data.get("model"),
        )
        return Response(
            MessageSerializer([user_message, reply], many=True).data, status=status.HTTP_201_CREATED
        )


class MessageDetailApi(ChatApi):
    @extend_schema(responses={200: MessageSerializer, **refusals(403, 404)})
    def get(self, request, pk):
        own_message(request, pk)
        return Response(MessageSerializer(_messages().get(pk=pk)).data)


class RegenerateApi(ChatApi):
    @extend_schema(
        request=RegenerateSerializer,
        responses={201: MessageSerializer, **refusals(400, 403, 404)},
    )
    def post(self, request, pk):
        reply = own_reply(request, pk)
        serializer = RegenerateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        fresh = _call(
            chat_reply_regenerate, reply=reply, model_name=serializer.validated_data.get("model")
        )
        return Response(MessageSerializer(fresh).data, status=status.HTTP_201_CREATED)


class FeedbackApi(ChatApi):
    @extend_schema(
        request=FeedbackSerializer, responses={200: FeedbackSerializer, **refusals(400, 403, 404)}
    )
    def put(self, request, pk):
        message = own_reply(request, pk)
        serializer = FeedbackSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        feedback = _call(feedback_set, message=message, **serializer.validated_data)
        return Response(FeedbackSerializer(feedback).data)


class CorrectionListApi(ChatApi):
    @extend_schema(responses={200: CorrectionSerializer(many=True), **refusals(403, 404)})
    def get(self, request, pk):
        return Response(
            CorrectionSerializer(own_message(request, pk).corrections.all(), many=True).data
        )

    @extend_schema(
        request=CorrectionCreateSerializer,
        responses={201: CorrectionSerializer, **refusals(400, 403, 404)},
        description="A corrected answer in widget markup; every widget must be valid. The "
        "original answer is kept, and the pair becomes a training candidate.",
    )
    def post(self, request, pk):
        message = own_reply(request, pk)
        serializer = CorrectionCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        correction = _call(
            correction_create,
            message=message,
            raw=serializer.validated_data["raw"],
            author=request.user,
        )
        return Response(CorrectionSerializer(correction).data, status=status.HTTP_201_CREATED)


class ActionDecisionApi(ChatApi):
    @extend_schema(
        request=ActionDecisionSerializer,
        responses={201: ActionRunSerializer, **refusals(400, 403, 404, 409)},
        description="Confirm (runs the CRM operation) or cancel the action_request card at "
        "`block` (0-based index of the widget blocks in the message). 404: no action card "
        "there; 409: it was already decided.",
    )
    def post(self, request, pk, block):
        message = own_reply(request, pk)
        serializer = ActionDecisionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            confirm = serializer.validated_data["decision"] == "confirm"
            run = action_decide(
                message=message, block_index=block, confirm=confirm, user=request.user
            )
        except ChatError as exc:
            if exc.code == "not_found":
                return Response({"detail": str(exc)}, status=status.HTTP_404_NOT_FOUND)
            if exc.code == "already_decided":  # a valid request, too late
                return Response({exc.field: [str(exc)]}, status=status.HTTP_409_CONFLICT)
            raise ValidationError({exc.field: [str(exc)]}, code=exc.code) from exc
        return Response(ActionRunSerializer(run).data, status=status.HTTP_201_CREATED)


class ModelListApi(ChatApi):
    @extend_schema(
        responses={200: ModelChoiceSerializer(many=True), **refusals(403)},
        description="The models you may name in `model` when posting a message or "
        "regenerating: the served one (the default) first, the base model, and the adapters "
        "staff made selectable (staff: every registered adapter).",
    )
    def get(self, request):
        default = served_model().name
        staff = request.user.is_active and request.user.is_staff
        models = [
            {
                "name": m.name,
                "kind": "base" if m.name == BASE_MODEL else "adapter",
                "default": m.name == default,
            }
            for m in models_for(staff=staff)
        ]
        return Response(ModelChoiceSerializer(models, many=True).data)
