"""Datasets, LoRA training, evaluation and the Celery jobs that run them."""
