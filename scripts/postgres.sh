#!/usr/bin/env bash
# Starts a PostgreSQL server for the tests (Debian's postgresql package,
# installed with apt-get when missing) and prints an admin URL:
#   postgres://reprolog@127.0.0.1:<port>/postgres
# PostgreSQL refuses to run as root, so as root it runs as the dedicated
# system user `reprolog-pg` (created here); otherwise as the calling user.
# Each checkout has a cluster of its own, in $REPROLOG_PG_DIR (default
# /tmp/reprolog-postgres-<uid>-<hash of the checkout's path>), so two clones
# on one machine (a developer's and CI's) never share, reuse or recover each
# other's. It trusts connections from 127.0.0.1 only and is reused while it
# runs. Its port is $REPROLOG_PG_PORT, else the one it was first given
# (kept in $DIR/port), else the first pair from 54329 that nothing listens on.
# `scripts/postgres.sh replica` also starts a streaming read replica of it
# (pg_basebackup, port + 1) and prints the replica's URL.
# The primary also accepts TLS, with a certificate for 127.0.0.1 from a CA
# made here; `scripts/postgres.sh ca` prints that CA's PEM file. The role
# `reprolog_cert` may log in only over TLS with a client certificate from
# that CA (pg_hba `cert`): client.crt and client.key beside the CA.
# `scripts/postgres.sh stop` stops both; `scripts/postgres.sh remove` also
# deletes the cluster.
set -euo pipefail
checkout=$(cd "$(dirname "$0")/.." && pwd -P)
DIR=${REPROLOG_PG_DIR:-/tmp/reprolog-postgres-$(id -u)-$(printf '%s' "$checkout" | sha256sum | cut -c1-12)}

# True when something accepts TCP connections on 127.0.0.1:$1.
port_taken() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

if [ -n "${REPROLOG_PG_PORT:-}" ]; then
  PORT=$REPROLOG_PG_PORT
elif [ -f "$DIR/port" ]; then
  PORT=$(cat "$DIR/port")
else
  PORT=54329
  while port_taken "$PORT" || port_taken $((PORT + 1)); do
    PORT=$((PORT + 2))
    [ "$PORT" -lt 54500 ] || { echo "postgres.sh: no free port pair in 54329-54500" >&2; exit 1; }
  done
fi
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
if [ "${1:-}" = stop ] || [ "${1:-}" = remove ]; then
  for d in "$DIR/replica" "$DIR/data"; do
    [ -f "$d/PG_VERSION" ] && "${as_pg[@]}" "$BIN/pg_ctl" -D "$d" -m fast -w stop >&2 || true
  done
  [ "$1" = stop ] || rm -rf "$DIR"
  exit 0
fi

start_replica() {
  if "$BIN/pg_isready" -q -h "$DIR" -p "$RPORT"; then
    return
  fi
  if [ ! -f "$DIR/replica/PG_VERSION" ]; then
    # -R: standby.signal and primary_conninfo, so it streams from the primary.
    "${as_pg[@]}" "$BIN/pg_basebackup" -h 127.0.0.1 -p "$PORT" -U reprolog -D "$DIR/replica" \
      -R -X stream -c fast >&2
  fi
  "${as_pg[@]}" "$BIN/pg_ctl" -D "$DIR/replica" -l "$DIR/replica.log" -w -t 600 start -o \
    "-c listen_addresses=127.0.0.1 -c port=$RPORT -c unix_socket_directories=$DIR -c max_connections=400 -c hot_standby=on" >&2 \
    || { tail -n 20 "$DIR/replica.log" >&2; exit 1; }
}

if "$BIN/pg_isready" -q -h "$DIR" -p "$PORT"; then
  if [ "${1:-}" = replica ]; then
    start_replica
    echo "postgres://reprolog@127.0.0.1:$RPORT/postgres"
  else
    echo "$URL"
  fi
  exit 0
fi

if port_taken "$PORT"; then
  echo "postgres.sh: 127.0.0.1:$PORT is taken by another server; set REPROLOG_PG_PORT" >&2
  exit 1
fi
mkdir -p "$DIR"
[ "$(id -u)" -eq 0 ] && chown reprolog-pg: "$DIR"
chmod 700 "$DIR"
echo "$PORT" >"$DIR/port"
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
# log acknowledges only what PostgreSQL says is on disk. The long timeout is
# for a cluster last stopped by SIGKILL: it replays its WAL and fsyncs every
# file before it answers, minutes on a big one.
"${as_pg[@]}" "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 600 start -o \
  "-c listen_addresses=127.0.0.1 -c port=$PORT -c unix_socket_directories=$DIR -c max_connections=400 -c ssl=on -c ssl_cert_file=$DIR/tls/server.crt -c ssl_key_file=$DIR/tls/server.key -c ssl_ca_file=$DIR/tls/ca.crt" >&2 \
  || { tail -n 20 "$DIR/server.log" >&2; exit 1; }
if [ "${1:-}" = replica ]; then
  start_replica
  echo "postgres://reprolog@127.0.0.1:$RPORT/postgres"
else
  echo "$URL"
fi
