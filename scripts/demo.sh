#!/usr/bin/env bash
# Set up and start the demo: install, migrate, load the demo domain, start Redis (or fall back
# to the embedded broker) and a Celery worker, and serve the app at http://127.0.0.1:8000.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/services.sh

export DEBUG="${DEBUG:-1}"
HOST="${WEFT_HOST:-127.0.0.1}" PORT="${WEFT_PORT:-8000}"
ensure_redis || echo "weft: no Redis here; background jobs use the embedded SQLite broker"

.venv/bin/python manage.py migrate --noinput
if [ -z "${WEFT_DOMAIN:-}" ] || [ "$WEFT_DOMAIN" = "demo.domain:DEMO" ]; then
  .venv/bin/python manage.py load_demo    # the demo: its widgets, CRM, staff user and dataset
else
  .venv/bin/python manage.py load_domain  # your domain: its widgets and demo records
fi
.venv/bin/python manage.py prepare_model  # once: the GGUF weights to a safetensors copy (~30 s)
.venv/bin/python manage.py collectstatic --noinput -v 0

# One worker for every queue: no -Q, so it consumes each one in CELERY_TASK_QUEUES (the default,
# training, evaluations; project/settings.py). Across machines each kind has its own:
# docs/deploy.md.
.venv/bin/celery -A project worker --pool=solo --concurrency=1 --loglevel=warning &
worker=$!
trap 'kill $worker 2>/dev/null || true' EXIT INT TERM

echo "weft: serving at http://$HOST:$PORT/ (the demo's login is demo / demo; create your own with manage.py createsuperuser)"
.venv/bin/uvicorn project.asgi:application --host "$HOST" --port "$PORT"
