#!/usr/bin/env bash
# First start of the compose PostgreSQL (docker-entrypoint-initdb.d): the roles of docs/runbooks/database.md.
# Passwords come from the container's environment (compose .env), never from this file.
set -euo pipefail
: "${DMS_OWNER_DB_PASSWORD:?}" "${DMS_RUNTIME_DB_PASSWORD:?}"
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
  -v owner_pw="$DMS_OWNER_DB_PASSWORD" -v runtime_pw="$DMS_RUNTIME_DB_PASSWORD" <<'SQL'
CREATE ROLE dms_owner LOGIN PASSWORD :'owner_pw';
CREATE DATABASE dms OWNER dms_owner;
CREATE ROLE dms_app NOLOGIN;
CREATE ROLE dms_runtime LOGIN PASSWORD :'runtime_pw' IN ROLE dms_app;
SQL
