"""The web chat's pages. The page talks to the REST API and the SSE stream for everything else."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from chat.models import Conversation, Message
from chat.replies import reply_html
from chat.services import conversation_create
from serving.backend import BackendError, get_backend
from serving.served import models_for, served_model


def model_choices(user) -> tuple[list[str], str, str]:
    """The models `user` may pick (serving.served.models_for: what the chat's services
    accept), the default, and a note when the backend cannot be reached."""
    names = [m.name for m in models_for(staff=user.is_active and user.is_staff)]
    note = ""
    try:
        get_backend().models()  # asked only so that the page says early it cannot answer
    except BackendError as exc:
        note = exc.message
    return names, served_model().name, note


@login_required
def home(request):
    latest = Conversation.objects.filter(owner=request.user).first()
    if latest is not None:
        return redirect("chat:conversation", pk=latest.pk)
    return render(request, "chat/empty.html")


@login_required
@require_POST
def conversation_new(request):
    conversation = conversation_create(owner=request.user)
    return redirect("chat:conversation", pk=conversation.pk)


@login_required
def conversation_page(request, pk):
    conversation = get_object_or_404(Conversation, pk=pk, owner=request.user)
    messages = (
        conversation.messages.filter(is_current=True)
        .select_related("feedback")
        .prefetch_related("action_runs", "corrections")
    )
    thread = []
    for message in messages:
        html = ""
        if message.role == Message.Role.ASSISTANT and message.status != Message.Status.STREAMING:
            html = reply_html(message)
        thread.append({"message": message, "html": html})
    models, default_model, backend_note = model_choices(request.user)
    return render(
        request,
        "chat/conversation.html",
        {
            "conversation": conversation,
            "conversations": Conversation.objects.filter(owner=request.user)[:50],
            "thread": thread,
            "models": models,
            "default_model": default_model,
            "backend_note": backend_note,
        },
    )
