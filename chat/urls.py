from django.urls import path

from chat import views

app_name = "chat"
urlpatterns = [
    path("", views.home, name="home"),
    path("c/new/", views.conversation_new, name="new"),
    path("c/<int:pk>/", views.conversation_page, name="conversation"),
]
