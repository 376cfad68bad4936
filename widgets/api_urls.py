from django.urls import path

from widgets import api

urlpatterns = [
    path("widgets/", api.WidgetListApi.as_view(), name="api-widget-list"),
    path("widgets/<str:name>/", api.WidgetDetailApi.as_view(), name="api-widget-detail"),
    path(
        "widgets/<str:name>/versions/",
        api.WidgetVersionListApi.as_view(),
        name="api-widget-versions",
    ),
    path(
        "widgets/<str:name>/versions/<int:version>/activate/",
        api.WidgetVersionActivateApi.as_view(),
        name="api-widget-version-activate",
    ),
]
