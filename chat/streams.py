"""Server-Sent Events for a reply, from an async view so a stream holds no worker thread idle.

The blocking pipeline (backend, parser, ORM) runs in a worker thread and hands events to the
response through an asyncio queue. When the client goes away (the user pressed Stop, or
closed the tab), Django cancels the response; the cancel flag then stops the generation and
what was written so far is saved.
"""

import asyncio
import json
import logging
import threading
from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import close_old_connections
from django.http import Http404, StreamingHttpResponse
from rest_framework.authentication import TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed

from chat.models import Message
from chat.replies import reply_events

logger = logging.getLogger(__name__)

# A reply holds its thread for the whole generation (the backend iterator blocks), so the
# pool is sized for concurrent streams, not for CPUs like asyncio's default executor.
_REPLY_THREADS = ThreadPoolExecutor(
    max_workers=settings.WEFT_MAX_CONCURRENT_REPLIES, thread_name_prefix="weft-reply"
)


def _token_user(request):
    try:
        found = TokenAuthentication().authenticate(request)
    except AuthenticationFailed:
        return None
    return found[0] if found else None


async def _user(request):
    user = await request.auser()
    if user.is_authenticated:
        return user
    return await sync_to_async(_token_user)(request)


def sse(event: dict) -> str:
    return f"event: {event['event']}\ndata: {json.dumps(event, ensure_ascii=False)}\n\n"


async def reply_stream(request, pk):
    user = await _user(request)
    # Someone else's reply and no reply at all look the same: 404.
    if (
        user is None
        or not await Message.objects.filter(
            pk=pk, role=Message.Role.ASSISTANT, conversation__owner=user
        ).aexists()
    ):
        raise Http404("No such reply.")
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue = asyncio.Queue()
    cancel = threading.Event()

    def generate() -> None:
        try:
            for event in reply_events(pk, cancel=cancel):
                loop.call_soon_threadsafe(queue.put_nowait, event)
        except Exception as exc:  # the stream must end with a message, whatever broke
            logger.exception("reply %s failed", pk)
            message = f"The reply failed: {type(exc).__name__}."
            loop.call_soon_threadsafe(queue.put_nowait, {"event": "error", "message": message})
        finally:
            loop.call_soon_threadsafe(queue.put_nowait, None)
            close_old_connections()

    async def events():
        loop.run_in_executor(_REPLY_THREADS, generate)
        try:
            yield ": stream open\n\n"  # flushes headers at once, so the page shows progress
            while (event := await queue.get()) is not None:
                yield sse(event)
        finally:
            # Ends a generation the client stopped waiting for; the worker saves what it has.
            cancel.set()

    response = StreamingHttpResponse(events(), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response
