# Sourced by bench/run: case S, Wharf as it runs scaled out, on PostgreSQL
# with its package bytes in an S3 bucket (moto's server, as the tests use;
# scripts/lib/s3.sh installs it), with its default logging to a file.
#
# scale_case: starts one Wharf on a new database and a bucket folder, seeds
# it (a virtual package, the BIG_BYTES package), then measures
#  - S.manifest: the manifest fetch (as case A) against nginx serving the
#    same bytes;
#  - S.upload / S.download: the big package through Wharf (curl to and
#    from it) against the same file put to the same S3 server by boto3 (8 MiB
#    parts, four at a time, as Wharf sends them) and read back by one GET to
#    nowhere (as Wharf reads a blob to pass it on): the server's own speed
#    with a plain client, about the most Wharf could reach;
#  - S.one / S.three: the manifest fetch through an nginx load balancer in
#    front of one process, and in front of three on the same database and
#    bucket, in alternating rounds.

scale_case() {
  start_s3
  local bucket_prefix=bench-$RANDOM port seeded key path round
  local s3_env=(WHARF_STORAGE__BACKEND=s3 WHARF_STORAGE__S3__ENDPOINT="$TEST_S3_ENDPOINT"
    WHARF_STORAGE__S3__BUCKET="$TEST_S3_BUCKET" WHARF_STORAGE__S3__PREFIX="$bucket_prefix"
    AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test)
  psql "$POSTGRES_URL" -qc "CREATE DATABASE wharf_scale" >/dev/null
  local database=DATABASE_URL="${POSTGRES_URL%/*}/wharf_scale"
  local ports=() pids=() n
  for n in 1 2 3; do
    port=$(free_port)
    env "$database" "${s3_env[@]}" WHARF_ADMIN_API_KEY=$ADMIN_KEY WHARF_DATA_DIR="$WORK/wharf-scale-$n" \
      WHARF_BIND=127.0.0.1:$port "$WHARF" serve >"$WORK/wharf-scale-$n.log" 2>&1 &
    pids+=($!); ports+=("$port"); PIDS+=($!)
    for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/health/ready" >/dev/null && break; sleep 0.1; done
  done
  local base=http://127.0.0.1:${ports[0]}
  echo "== Wharf on postgres, blobs in S3 ($TEST_S3_ENDPOINT), 3 processes" >&2
  seeded=$(python3 bench/seed.py "$base" "$ADMIN_KEY" "$WORK" 10 1 "$BIG_BYTES")
  key=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["download_key"])' "$seeded")
  cp "$WORK/manifest.vpack" "$WORK/static/manifest.vpack"
  path=/upack/bench/download-vpack/manifests/release?latest

  SERVER_PID=${pids[0]} wrk_case postgres S.nginx "$NGINX/manifest.vpack"
  SERVER_PID=${pids[0]} wrk_case postgres S.manifest "$base$path" "X-ApiKey: $key"

  # Each timed upload stores new bytes: the one before is deleted and
  # collected, or content addressing would find them already in the bucket.
  local times=() median
  for _ in $(seq "$TRANSFERS"); do
    times+=("$(curl -sS -o /dev/null -w '%{time_total}' --fail -T "$WORK/big.upack" \
      -H "X-ApiKey: $ADMIN_KEY" "$base/upack/bench/upload")")
    curl -sS -o /dev/null --fail -X POST -H "X-ApiKey: $ADMIN_KEY" "$base/upack/bench/delete/big/1.0.0"
    env "$database" "${s3_env[@]}" WHARF_LOG=warn WHARF_DATA_DIR="$WORK/wharf-scale-1" \
      "$WHARF" gc --grace-minutes 0 >/dev/null
  done
  median=$(printf '%s\n' "${times[@]}" | sort -n | sed -n "$(( (TRANSFERS + 1) / 2 ))p")
  record "{\"backend\":\"postgres\",\"case\":\"S.upload.wharf\",\"seconds\":$median,\"bytes\":$BIG_BYTES}"
  echo "   postgres S.upload.wharf: ${median}s" >&2
  curl -sS -o /dev/null --fail -T "$WORK/big.upack" -H "X-ApiKey: $ADMIN_KEY" "$base/upack/bench/upload"
  transfer postgres S.download.wharf -H "X-ApiKey: $key" "$base/upack/bench/download/big/1.0.0"
  local boto
  boto=$("$S3_TOOLS/bin/python" - "$WORK/big.upack" "$TRANSFERS" <<PY
import json, os, statistics, sys, time, boto3
from boto3.s3.transfer import TransferConfig
os.environ.setdefault("AWS_ACCESS_KEY_ID", "test"); os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "test")
s3 = boto3.client("s3", endpoint_url="$TEST_S3_ENDPOINT", region_name="us-east-1")
# The same part size and parallelism as Wharf's uploads.
config = TransferConfig(multipart_chunksize=8 << 20, max_concurrency=4)
source, runs = sys.argv[1], int(sys.argv[2])
up, down = [], []
for n in range(runs):
    started = time.monotonic(); s3.upload_file(source, "$TEST_S3_BUCKET", "boto/big", Config=config); up.append(time.monotonic() - started)
    # One GET read to nowhere, as Wharf reads a blob to send it on.
    started = time.monotonic()
    for _ in s3.get_object(Bucket="$TEST_S3_BUCKET", Key="boto/big")["Body"].iter_chunks(1 << 20): pass
    down.append(time.monotonic() - started)
print(json.dumps({"upload": statistics.median(up), "download": statistics.median(down)}))
PY
)
  record "{\"backend\":\"postgres\",\"case\":\"S.upload.s3\",\"seconds\":$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["upload"])' "$boto"),\"bytes\":$BIG_BYTES}"
  record "{\"backend\":\"postgres\",\"case\":\"S.download.s3\",\"seconds\":$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["download"])' "$boto"),\"bytes\":$BIG_BYTES}"
  echo "   postgres S boto3: $boto" >&2

  # One nginx, two ports: a balancer in front of one process, and one in
  # front of all three.
  local one_port three_port
  one_port=$(free_port); three_port=$(free_port)
  cat > "$WORK/nginx-lb.conf" <<NGINX
$( [ "$(id -u)" = 0 ] && echo "user root;" )
worker_processes 2;
pid $WORK/nginx-lb.pid;
error_log $WORK/nginx-lb-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  upstream one { server 127.0.0.1:${ports[0]}; keepalive 64; }
  upstream three { server 127.0.0.1:${ports[0]}; server 127.0.0.1:${ports[1]}; server 127.0.0.1:${ports[2]}; keepalive 64; }
  server { listen 127.0.0.1:$one_port; location / { proxy_pass http://one; proxy_http_version 1.1; proxy_set_header Connection ""; } }
  server { listen 127.0.0.1:$three_port; location / { proxy_pass http://three; proxy_http_version 1.1; proxy_set_header Connection ""; } }
}
NGINX
  nginx -c "$WORK/nginx-lb.conf"
  for round in $(seq "$ROUNDS"); do
    SERVER_PID=${pids[0]} wrk_case postgres S.one "http://127.0.0.1:$one_port$path" "X-ApiKey: $key" "" "$round"
    SERVER_PID=${pids[0]} wrk_case postgres S.three "http://127.0.0.1:$three_port$path" "X-ApiKey: $key" "" "$round"
  done
  kill "$(cat "$WORK/nginx-lb.pid")"
  for n in 0 1 2; do kill "${pids[$n]}"; wait "${pids[$n]}" 2>/dev/null || true; done
  stop_s3
}
