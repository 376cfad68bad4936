#!/usr/bin/env bash
# Functions that make sure Redis and PostgreSQL answer on 127.0.0.1, starting them if they don't.
# Sourced by scripts/test.sh and scripts/demo.sh.

redis_up() { .venv/bin/python -c 'import sys; from project.broker import redis_answers; sys.exit(not redis_answers("redis://127.0.0.1:6379/0"))'; }

ensure_redis() {
  redis_up && return 0
  if command -v redis-server >/dev/null; then
    echo "weft: starting Redis on 127.0.0.1:6379"
    mkdir -p /tmp/weft-redis
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
      --dir /tmp/weft-redis --logfile /tmp/weft-redis/redis.log >/dev/null
    for _ in $(seq 50); do redis_up && return 0; sleep 0.1; done
  fi
  return 1
}

pg_up() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }

ensure_postgres() {
  pg_up && return 0
  if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
    echo "weft: starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -1)" main start || true
    for _ in $(seq 100); do pg_up && return 0; sleep 0.2; done
  fi
  return 1
}
