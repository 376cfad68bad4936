from celery import shared_task


@shared_task(name="weft.ping")
def ping() -> str:
    """Round trip through the broker and the result backend: what health checks call."""
    return "pong"
