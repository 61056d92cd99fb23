#!/usr/bin/env bash
# Run once by the postgres image's entrypoint when it initialises an empty cluster
# (bind-mounted into /docker-entrypoint-initdb.d/ by compose/*.yml; the entrypoint executes
# it, or sources it when not executable: both work). For each name in ARCHLAB_DATABASES
# (space-separated) it creates, as archlab/db.py `_recreate_database` does for the lab's own
# cluster: a LOGIN role of that name with the password in <NAME>_DB_PASSWORD (NAME
# upper-cased, '-' -> '_'), a database of that name owned by it, and only its owner may
# connect to it (CONNECT revoked from PUBLIC), so each role reaches its own database alone.

archlab_create_databases() {
    local name upper variable password
    if [ -z "${ARCHLAB_DATABASES:-}" ]; then
        echo "postgres-init.sh: ARCHLAB_DATABASES is empty: no database to create" >&2
        return 1
    fi
    for name in $ARCHLAB_DATABASES; do
        if ! [[ $name =~ ^[a-z_][a-z0-9_]*$ ]]; then
            echo "postgres-init.sh: '$name' is not a plain lower-case name" >&2
            return 1
        fi
        upper=$(printf '%s' "$name" | tr 'a-z-' 'A-Z_')
        variable="${upper}_DB_PASSWORD"
        password=${!variable:-}
        if [ -z "$password" ]; then
            echo "postgres-init.sh: $variable is not set (the password of role $name)" >&2
            return 1
        fi
        echo "postgres-init.sh: role and database $name"
        # psql variables, not string pasting: :"name" quotes an identifier, :'password' a
        # literal. Over the Unix socket, as the superuser, while the server only listens there.
        psql -v ON_ERROR_STOP=1 --no-psqlrc --quiet --username "${POSTGRES_USER:-postgres}" \
            --dbname postgres --set name="$name" --set password="$password" <<'SQL' || return 1
CREATE ROLE :"name" LOGIN PASSWORD :'password';
CREATE DATABASE :"name" OWNER :"name";
REVOKE CONNECT ON DATABASE :"name" FROM PUBLIC;
SQL
    done
}

archlab_create_databases
