#!/usr/bin/env bash
# Prints a fresh env file for running compose/*.yml by hand:
#     bash compose/new-env.sh > compose/.env
# (docker-compose and `docker compose` read .env from the compose file's folder). Fresh
# random URL-safe secrets each time: the PostgreSQL superuser's password, one password per
# database role of both stacks, the admin token and the key that signs tokens. Keep the
# file to yourself (it is git-ignored); `archlab up --platform compose` writes its own.
set -euo pipefail

# Every database of both stacks (archlab/stacks.py; tests/unit/test_compose_files.py checks).
DATABASES="monolith cardprocessor accounts catalog inventory payments notifications invoices orders"

secret() {
    # 24 random bytes, base64url without padding: 32 characters of [A-Za-z0-9_-], safe in a
    # database URL and in an env file without quoting.
    head -c 24 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n'
}

echo "# compose/.env from compose/new-env.sh, $(date -u +%Y-%m-%dT%H:%M:%SZ). Secrets: keep it private."
echo "POSTGRES_PASSWORD=$(secret)"
for name in $DATABASES; do
    echo "$(printf '%s' "$name" | tr 'a-z-' 'A-Z_')_DB_PASSWORD=$(secret)"
done
echo "ARCHLAB_ADMIN_TOKEN=$(secret)"
echo "ARCHLAB_SECRET_KEY=$(secret)"
cat <<'OPTIONS'
# Optional (the defaults shown):
# ARCHLAB_PUBLISH_ADDRESS=127.0.0.1
# ARCHLAB_PORT=8000
# ARCHLAB_IMAGE=archlab:latest
# BASE_IMAGE=python:3.11-slim
# POSTGRES_IMAGE=postgres:16
# CARD_PROCESSOR_LATENCY_MS=30
OPTIONS
