# Sourced by bench/run: case L, what logging costs, and case C's rounds.
#
# logging_case BACKEND PORT KEY: starts a second Wharf on the same database
# and data directory as the one bench/run started with WHARF_LOG=warn, this
# one with its default settings (the access log on, written to a file as an
# operator redirects stderr), and a second nginx writing its access log to a
# file; then ROUNDS rounds of the manifest fetch (case A), alternating the
# three, each recorded.

# nginx_logged: an nginx like the baseline but with `access_log` on, to a file.
nginx_logged() {
  NGINX_LOGGED_PORT=$(free_port)
  sed -e "s|access_log off;|access_log $WORK/nginx-access.log;|" \
      -e "s|listen 127.0.0.1:$NGINX_PORT;|listen 127.0.0.1:$NGINX_LOGGED_PORT;|" \
      -e "s|pid $WORK/nginx.pid;|pid $WORK/nginx-logged.pid;|" \
      "$WORK/nginx.conf" > "$WORK/nginx-logged.conf"
  nginx -c "$WORK/nginx-logged.conf"
}

logging_case() {
  local backend=$1 warn_port=$2 key=$3 logged_port round line path
  [ -n "${NGINX_LOGGED_PORT:-}" ] || nginx_logged
  logged_port=$(free_port)
  env "${db_env[@]}" WHARF_ADMIN_API_KEY=$ADMIN_KEY WHARF_DATA_DIR="$data" \
    WHARF_BIND=127.0.0.1:$logged_port "$WHARF" serve >"$WORK/wharf-$backend-logged.log" 2>&1 &
  local logged_pid=$!
  PIDS+=("$logged_pid")
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$logged_port/health" >/dev/null && break; sleep 0.1; done
  path=/upack/bench/download-vpack/manifests/release?latest
  # Each round starts with a different one of the three, in turn, so that
  # none always runs in the wake of the same other (the logged runs leave
  # dirty log pages that the kernel writes back during the next run).
  local order=(nginx_logged wharf_warn wharf_default) side n
  for round in $(seq "$ROUNDS"); do
    for n in 0 1 2; do
      side=${order[$(( (round - 1 + n) % 3 ))]}
      case "$side" in
        nginx_logged) wrk_case "$backend" L.nginx_logged "http://127.0.0.1:$NGINX_LOGGED_PORT/manifest.vpack" "" "" "$round" ;;
        wharf_warn) wrk_case "$backend" L.wharf_warn "http://127.0.0.1:$warn_port$path" "X-ApiKey: $key" "" "$round" ;;
        wharf_default) SERVER_PID=$logged_pid wrk_case "$backend" L.wharf_default "http://127.0.0.1:$logged_port$path" \
          "X-ApiKey: $key" "" "$round" ;;
      esac
    done
  done
  record "{\"backend\":\"$backend\",\"case\":\"L.log\",\"wharf_lines\":$(grep -c 'wharf::access' "$WORK/wharf-$backend-logged.log" || true),\"nginx_lines\":$(wc -l < "$WORK/nginx-access.log")}"
  kill "$logged_pid"; wait "$logged_pid" 2>/dev/null || true
}
