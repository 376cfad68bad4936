from django.urls import path

from chat import api
from chat.streams import reply_stream

urlpatterns = [
    path("conversations/", api.ConversationListApi.as_view(), name="api-conversations"),
    path("conversations/<int:pk>/", api.ConversationDetailApi.as_view(), name="api-conversation"),
    path("conversations/<int:pk>/messages/", api.MessageListApi.as_view(), name="api-messages"),
    path("messages/<int:pk>/", api.MessageDetailApi.as_view(), name="api-message"),
    path("messages/<int:pk>/stream/", reply_stream, name="api-message-stream"),
    path("messages/<int:pk>/regenerate/", api.RegenerateApi.as_view(), name="api-regenerate"),
    path("messages/<int:pk>/feedback/", api.FeedbackApi.as_view(), name="api-feedback"),
    path("messages/<int:pk>/corrections/", api.CorrectionListApi.as_view(), name="api-corrections"),
    path(
        "messages/<int:pk>/actions/<int:block>/",
        api.ActionDecisionApi.as_view(),
        name="api-action-decision",
    ),
    path("models/", api.ModelListApi.as_view(), name="api-models"),
]
