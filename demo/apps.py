from django.apps import AppConfig


class DemoConfig(AppConfig):
    name = "demo"
    # The label the CRM's tables and migrations were made under: kept, so existing databases
    # (and their django_migrations rows) carry over unchanged.
    label = "crm"
    verbose_name = "Demo CRM"
