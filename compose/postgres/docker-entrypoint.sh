#!/usr/bin/env bash
# The official postgres image's entrypoint, in short (compose/postgres/Dockerfile):
#   - POSTGRES_PASSWORD (required unless POSTGRES_HOST_AUTH_METHOD=trust), POSTGRES_USER
#     (default postgres), POSTGRES_DB (default $POSTGRES_USER), POSTGRES_INITDB_ARGS,
#     POSTGRES_HOST_AUTH_METHOD (default scram-sha-256);
#   - an empty $PGDATA gets initdb (as the postgres user), trust for local connections and
#     password auth for TCP from anywhere, then, with the server on its Unix socket only, every
#     /docker-entrypoint-initdb.d/*.sh (executed when executable, sourced otherwise), *.sql and
#     *.sql.gz (through psql), in name order;
#   - then `exec postgres -D $PGDATA -c listen_addresses='*' "$@"`, so a compose `command:`
#     like `-c max_connections=420` (or `postgres -c ...`) passes through.
set -Eeuo pipefail

# `docker run IMAGE -c x=y` means `postgres -c x=y`; anything else but postgres runs as given.
if [ "${1:0:1}" = '-' ]; then
    set -- postgres "$@"
fi
if [ "$1" != postgres ]; then
    exec "$@"
fi

export PGDATA=${PGDATA:-/var/lib/postgresql/data}

# As root: own the data dir, then run this script again as the postgres user.
if [ "$(id -u)" = 0 ]; then
    mkdir -p "$PGDATA" /var/run/postgresql
    find "$PGDATA" /var/run/postgresql \! -user postgres -exec chown postgres:postgres '{}' +
    chmod 700 "$PGDATA"
    chmod 3777 /var/run/postgresql
    exec setpriv --reuid=postgres --regid=postgres --init-groups "${BASH_SOURCE[0]}" "$@"
fi
shift   # "postgres"

log() { echo "docker-entrypoint: $*"; }

export POSTGRES_USER=${POSTGRES_USER:-postgres}
export POSTGRES_DB=${POSTGRES_DB:-$POSTGRES_USER}
POSTGRES_HOST_AUTH_METHOD=${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}

if [ ! -s "$PGDATA/PG_VERSION" ]; then
    if [ -z "${POSTGRES_PASSWORD:-}" ] && [ "$POSTGRES_HOST_AUTH_METHOD" != trust ]; then
        echo "docker-entrypoint: error: the database is uninitialized and POSTGRES_PASSWORD is not set" \
             "(set it, or POSTGRES_HOST_AUTH_METHOD=trust to allow all connections without one)" >&2
        exit 1
    fi
    log "initdb in $PGDATA"
    pwfile=$(mktemp)
    printf '%s\n' "${POSTGRES_PASSWORD:-}" >"$pwfile"
    # shellcheck disable=SC2086
    initdb --username="$POSTGRES_USER" --pwfile="$pwfile" --encoding=UTF8 --locale=C.UTF-8 \
        -D "$PGDATA" ${POSTGRES_INITDB_ARGS:-} >/dev/null
    rm -f "$pwfile"
    # initdb's pg_hba.conf trusts local socket and loopback connections; TCP from anywhere
    # else needs the password (md5 entries accept scram-sha-256 passwords too).
    printf '\nhost all all all %s\n' "$POSTGRES_HOST_AUTH_METHOD" >>"$PGDATA/pg_hba.conf"

    # The server on its Unix socket only while the init scripts run.
    pg_ctl -D "$PGDATA" -w -o "-c listen_addresses='' -p ${PGPORT:-5432}" start >/dev/null
    export PGPASSWORD=${PGPASSWORD:-${POSTGRES_PASSWORD:-}}
    psql=(psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --no-password --no-psqlrc)
    if [ "$POSTGRES_DB" != postgres ]; then
        "${psql[@]}" --dbname postgres --set db="$POSTGRES_DB" -q <<<'CREATE DATABASE :"db";'
    fi
    psql+=(--dbname "$POSTGRES_DB")
    for f in /docker-entrypoint-initdb.d/*; do
        [ -e "$f" ] || continue
        case $f in
            *.sh)
                if [ -x "$f" ]; then
                    log "running $f"; "$f"
                else
                    log "sourcing $f"
                    # shellcheck disable=SC1090
                    . "$f"
                fi ;;
            *.sql) log "running $f"; "${psql[@]}" -f "$f" ;;
            *.sql.gz) log "running $f"; gunzip -c "$f" | "${psql[@]}" ;;
            *) log "ignoring $f" ;;
        esac
    done
    pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
    unset PGPASSWORD
    log "PostgreSQL init process complete; ready for start up"
fi

exec postgres -D "$PGDATA" -c listen_addresses='*' "$@"
