#!/usr/bin/env bash
# Set up and run the whole test suite: lint, then every test on PostgreSQL (with real Redis),
# then the database tests again on SQLite, the embedded default.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/services.sh

ensure_redis || { echo "weft: Redis does not answer on 127.0.0.1:6379 and could not be started" >&2; exit 1; }
ensure_postgres || { echo "weft: PostgreSQL does not answer on 127.0.0.1:5432 and could not be started" >&2; exit 1; }

export DEBUG=1 REDIS_URL=redis://127.0.0.1:6379/0
export WEFT_DATA_DIR="${WEFT_DATA_DIR:-$PWD/data/test}"
PG_URL="${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/weft}"

.venv/bin/ruff check .
.venv/bin/ruff format --check .

echo "== tests on PostgreSQL"
DATABASE_URL="$PG_URL" .venv/bin/python -m pytest "$@"

echo "== database tests on SQLite"
DATABASE_URL="sqlite:///$WEFT_DATA_DIR/weft.sqlite3" .venv/bin/python -m pytest -m "django_db and not browser and not slow" -p no:cacheprovider -q "$@"
