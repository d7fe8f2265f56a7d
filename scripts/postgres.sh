#!/usr/bin/env bash
# Starts a PostgreSQL server for the tests (Debian's postgresql package,
# installed with apt-get when missing) and prints an admin URL:
#   postgres://reprolog@127.0.0.1:$REPROLOG_PG_PORT/postgres
# PostgreSQL refuses to run as root, so as root it runs as the dedicated
# system user `reprolog-pg` (created here); otherwise as the calling user.
# The cluster lives in $REPROLOG_PG_DIR (default /tmp/reprolog-postgres-<uid>),
# trusts connections from 127.0.0.1 only, and is reused while it runs.
# `scripts/postgres.sh replica` also starts a streaming read replica of it
# (pg_basebackup, port $REPROLOG_PG_PORT + 1) and prints the replica's URL.
# The primary also accepts TLS, with a certificate for 127.0.0.1 from a CA
# made here; `scripts/postgres.sh ca` prints that CA's PEM file. The role
# `reprolog_cert` may log in only over TLS with a client certificate from
# that CA (pg_hba `cert`): client.crt and client.key beside the CA.
# `scripts/postgres.sh stop` stops both.
set -euo pipefail
PORT=${REPROLOG_PG_PORT:-54329}
DIR=${REPROLOG_PG_DIR:-/tmp/reprolog-postgres-$(id -u)}
URL="postgres://reprolog@127.0.0.1:$PORT/postgres"

sudo=()
[ "$(id -u)" -eq 0 ] || sudo=(sudo)

pg_bin() {
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

if [ -z "$(pg_bin)" ]; then
  echo "installing Debian's postgresql with apt-get" >&2
  export DEBIAN_FRONTEND=noninteractive
  # No default cluster and no service start: the tests run their own.
  "${sudo[@]}" mkdir -p /etc/postgresql-common
  echo "create_main_cluster = false" | "${sudo[@]}" tee /etc/postgresql-common/createcluster.conf >/dev/null
  if ! "${sudo[@]}" apt-get install -y -qq --no-install-recommends postgresql >&2 2>/dev/null; then
    "${sudo[@]}" apt-get update -qq >&2
    "${sudo[@]}" apt-get install -y -qq --no-install-recommends postgresql >&2
  fi
fi
BIN=$(pg_bin)
[ -n "$BIN" ] || { echo "postgres.sh: no PostgreSQL binaries under /usr/lib/postgresql" >&2; exit 1; }

# Runs a PostgreSQL program as the user the server runs as.
as_pg=()
if [ "$(id -u)" -eq 0 ]; then
  if ! id reprolog-pg >/dev/null 2>&1; then
    useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin reprolog-pg
  fi
  as_pg=(runuser -u reprolog-pg --)
fi

RPORT=$((PORT + 1))
if [ "${1:-}" = ca ]; then
  echo "$DIR/tls/ca.crt"
  exit 0
fi
if [ "${1:-}" = stop ]; then
  for d in "$DIR/replica" "$DIR/data"; do
    [ -f "$d/PG_VERSION" ] && "${as_pg[@]}" "$BIN/pg_ctl" -D "$d" -m fast -w stop >&2 || true
  done
  exit 0
fi

start_replica() {
  if "$BIN/pg_isready" -q -h 127.0.0.1 -p "$RPORT"; then
    return
  fi
  if [ ! -f "$DIR/replica/PG_VERSION" ]; then
    # -R: standby.signal and primary_conninfo, so it streams from the primary.
    "${as_pg[@]}" "$BIN/pg_basebackup" -h 127.0.0.1 -p "$PORT" -U reprolog -D "$DIR/replica" \
      -R -X stream -c fast >&2
  fi
  "${as_pg[@]}" "$BIN/pg_ctl" -D "$DIR/replica" -l "$DIR/replica.log" -w -t 60 start -o \
    "-c listen_addresses=127.0.0.1 -c port=$RPORT -c unix_socket_directories=$DIR -c max_connections=400 -c hot_standby=on" >&2 \
    || { tail -n 20 "$DIR/replica.log" >&2; exit 1; }
}

if "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT"; then
  if [ "${1:-}" = replica ]; then
    start_replica
    echo "postgres://reprolog@127.0.0.1:$RPORT/postgres"
  else
    echo "$URL"
  fi
  exit 0
fi

mkdir -p "$DIR"
[ "$(id -u)" -eq 0 ] && chown reprolog-pg: "$DIR"
chmod 700 "$DIR"
if [ ! -f "$DIR/data/PG_VERSION" ]; then
  "${as_pg[@]}" "$BIN/initdb" -D "$DIR/data" -U reprolog --auth=trust -E UTF8 \
    --no-instructions >"$DIR/initdb.log" 2>&1 || { cat "$DIR/initdb.log" >&2; exit 1; }
fi
# A test CA and a server certificate naming 127.0.0.1 only (so a client
# reaching it as "localhost" must refuse it).
if [ ! -f "$DIR/tls/server.crt" ]; then
  if ! command -v openssl >/dev/null; then
    echo "installing Debian's openssl with apt-get" >&2
    "${sudo[@]}" apt-get install -y -qq --no-install-recommends openssl >&2 2>/dev/null \
      || { "${sudo[@]}" apt-get update -qq >&2 && "${sudo[@]}" apt-get install -y -qq --no-install-recommends openssl >&2; }
  fi
  mkdir -p "$DIR/tls"
  (
    cd "$DIR/tls"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
      -keyout ca.key -out ca.crt -subj "/CN=reprolog test CA" 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
      -keyout server.key -out server.csr -subj "/CN=127.0.0.1" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >server.ext
    openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 \
      -extfile server.ext -out server.crt 2>/dev/null
    chmod 600 server.key ca.key
  )
  [ "$(id -u)" -eq 0 ] && chown -R reprolog-pg: "$DIR/tls"
fi
# The client certificate for the role reprolog_cert (its CN); the caller who
# runs the tests reads its key.
if [ ! -f "$DIR/tls/client.crt" ]; then
  (
    cd "$DIR/tls"
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
      -keyout client.key -out client.csr -subj "/CN=reprolog_cert" 2>/dev/null
    printf 'basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n' >client.ext
    openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
      -days 3650 -extfile client.ext -out client.crt 2>/dev/null
    chmod 600 client.key
  )
fi
# reprolog_cert: a client certificate over TLS, nothing else.
if ! grep -q reprolog_cert "$DIR/data/pg_hba.conf"; then
  {
    printf 'hostssl all reprolog_cert 127.0.0.1/32 cert\n'
    printf 'host all reprolog_cert 127.0.0.1/32 reject\n'
    cat "$DIR/data/pg_hba.conf"
  } >"$DIR/pg_hba.new"
  [ "$(id -u)" -eq 0 ] && chown reprolog-pg: "$DIR/pg_hba.new"
  mv "$DIR/pg_hba.new" "$DIR/data/pg_hba.conf"
fi
# Durable commits (fsync, synchronous_commit) stay at their defaults: the
# log acknowledges only what PostgreSQL says is on disk.
"${as_pg[@]}" "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 60 start -o \
  "-c listen_addresses=127.0.0.1 -c port=$PORT -c unix_socket_directories=$DIR -c max_connections=400 -c ssl=on -c ssl_cert_file=$DIR/tls/server.crt -c ssl_key_file=$DIR/tls/server.key -c ssl_ca_file=$DIR/tls/ca.crt" >&2 \
  || { tail -n 20 "$DIR/server.log" >&2; exit 1; }
if [ "${1:-}" = replica ]; then
  start_replica
  echo "postgres://reprolog@127.0.0.1:$RPORT/postgres"
else
  echo "$URL"
fi
