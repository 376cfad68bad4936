from django.apps import AppConfig


class FinetuneConfig(AppConfig):
    name = "finetune"
    verbose_name = "Fine-tuning"

    def ready(self) -> None:
        from finetune.adapters import AdapterCatalogue
        from serving.served import register_catalogue

        register_catalogue(AdapterCatalogue())  # the chat reads what is served through it
