"""The web chat's pages. The page talks to the REST API and the SSE stream for everything else."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from chat.models import Conversation, Message
from chat.services import conversation_create
from serving.backend import BASE_MODEL, BackendError, get_backend
from serving.served import served_model
from widgets.render import render_message
from widgets.selectors import registry_at


def model_choices() -> tuple[list[str], str, str]:
    """Models the selector offers (base, the promoted adapter, loaded adapters), the default,
    and a note when the backend cannot be reached."""
    default = served_model().name
    names = [BASE_MODEL, default]
    note = ""
    try:
        names += [m.name for m in get_backend().models()]
    except BackendError as exc:
        note = exc.message
    return list(dict.fromkeys(names)), default, note


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
            html = render_message(message.raw, registry_at(message.widget_versions))
        thread.append({"message": message, "html": html})
    models, default_model, backend_note = model_choices()
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
