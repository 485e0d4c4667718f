# Sourced by scripts/test and bench/run: a throwaway S3-compatible server.
#
# start_s3 installs moto's server (PyPI: moto[server], with boto3) into a
# virtual environment under target/test-tools if it is not there yet (Debian's
# python3-venv is installed first if missing), starts it on a free loopback
# port and creates the bucket "wharf-test". It exports TEST_S3_ENDPOINT,
# TEST_S3_BUCKET and TEST_S3_SERVER (the server's command, for tests that
# stop a server of their own under load). stop_s3 stops it.
#
# Needs log and as_root from scripts/lib/postgres.sh.

S3_TOOLS="$(pwd)/target/test-tools/moto"
MOTO_VERSION=5.2.5

ensure_moto() {
  [ -x "$S3_TOOLS/bin/moto_server" ] && return
  if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
    log "Python's venv module not found: installing the Debian package 'python3-venv'"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
  fi
  log "Installing moto[server] $MOTO_VERSION and boto3 from PyPI into $S3_TOOLS (the S3 server the tests use)"
  rm -rf "$S3_TOOLS"
  python3 -m venv "$S3_TOOLS"
  "$S3_TOOLS/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION" boto3
}

start_s3() {
  ensure_moto
  local port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  S3_LOG=$(mktemp /tmp/wharf-test-s3.XXXXXX.log)
  log "Starting a throwaway S3 server (moto $MOTO_VERSION) on 127.0.0.1:$port"
  "$S3_TOOLS/bin/moto_server" -H 127.0.0.1 -p "$port" >"$S3_LOG" 2>&1 &
  S3_PID=$!
  export TEST_S3_ENDPOINT="http://127.0.0.1:$port" TEST_S3_BUCKET=wharf-test
  export TEST_S3_SERVER="$S3_TOOLS/bin/moto_server"
  AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test "$S3_TOOLS/bin/python" - <<PY || { cat "$S3_LOG" >&2; exit 1; }
import time, boto3, botocore
s3 = boto3.client("s3", endpoint_url="$TEST_S3_ENDPOINT", region_name="us-east-1")
for attempt in range(100):
    try:
        s3.create_bucket(Bucket="$TEST_S3_BUCKET")
        break
    except botocore.exceptions.EndpointConnectionError:
        time.sleep(0.1)
else:
    raise SystemExit("the S3 server at $TEST_S3_ENDPOINT did not start within 10 s")
PY
}

stop_s3() {
  kill "$S3_PID" >/dev/null 2>&1 || true
  rm -f "$S3_LOG"
}
