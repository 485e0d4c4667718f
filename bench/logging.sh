# Sourced by bench/run: case L, what logging costs, and case C's rounds.
#
# logging_case BACKEND KEY: starts an nginx writing its access log to a
# file; then ROUNDS rounds of the manifest fetch (case A), each on a fresh
# pair of Wharf processes on the benchmark's database and data directory:
# one with WHARF_LOG=warn, one with its default settings (the access log on,
# written to a file as an operator redirects stderr). The three take turns,
# each recorded.
#
# Why fresh processes each round: two Wharf processes of one build with the
# same settings, alternating on this machine, differed by 12 % in req/s
# (median of fourteen rounds' ratios, 0.883) and by 3 µs of CPU time per
# request, and kept their difference for their whole life (memory placement
# in the virtual machine, whichever its cause). With one pair for the whole
# run, the pair's luck decided case L; with a pair per round, it is one
# more thing the median of the rounds averages out.
# nginx_logged: an nginx like the baseline but with `access_log` on, to a file.
nginx_logged() {
  NGINX_LOGGED_PORT=$(free_port)
  sed -e "s|access_log off;|access_log $WORK/nginx-access.log;|" \
      -e "s|listen 127.0.0.1:$NGINX_PORT;|listen 127.0.0.1:$NGINX_LOGGED_PORT;|" \
      -e "s|pid $WORK/nginx.pid;|pid $WORK/nginx-logged.pid;|" \
      "$WORK/nginx.conf" > "$WORK/nginx-logged.conf"
  nginx -c "$WORK/nginx-logged.conf"
}

# start_round_wharf LOGGING: starts a Wharf on the benchmark's database and
# data directory, with WHARF_LOG=warn (LOGGING=warn) or its default settings
# (LOGGING=default), its stderr appended to a file; sets ROUND_PID and
# ROUND_PORT once it answers.
start_round_wharf() {
  local logging=$1 log_env=()
  [ "$logging" = warn ] && log_env=(WHARF_LOG=warn)
  ROUND_PORT=$(free_port)
  env "${db_env[@]}" "${log_env[@]}" WHARF_ADMIN_API_KEY=$ADMIN_KEY WHARF_DATA_DIR="$data" \
    WHARF_BIND=127.0.0.1:$ROUND_PORT "$WHARF" serve >>"$WORK/wharf-$backend-$logging.log" 2>&1 &
  ROUND_PID=$!
  PIDS+=("$ROUND_PID")
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$ROUND_PORT/health" >/dev/null && return; sleep 0.1; done
  echo "bench/run: a Wharf for case L ($logging logging) did not answer on port $ROUND_PORT; see $WORK/wharf-$backend-$logging.log" >&2
  exit 1
}

logging_case() {
  local backend=$1 key=$2 round path warn_pid warn_port logged_pid logged_port warm_port
  [ -n "${NGINX_LOGGED_PORT:-}" ] || nginx_logged
  path=/upack/bench/download-vpack/manifests/release?latest
  # Each round starts with a different one of the three, in turn, so that
  # none always runs in the wake of the same other (the logged runs leave
  # dirty log pages that the kernel writes back during the next run).
  local order=(nginx_logged wharf_warn wharf_default) side n
  for round in $(seq "$ROUNDS"); do
    start_round_wharf warn
    warn_pid=$ROUND_PID warn_port=$ROUND_PORT
    start_round_wharf default
    logged_pid=$ROUND_PID logged_port=$ROUND_PORT
    # Warm-up, not recorded: the key's first verification, the caches.
    for warm_port in "$warn_port" "$logged_port"; do
      wrk -t"$THREADS" -c"$CONNECTIONS" -d1s -H "X-ApiKey: $key" "http://127.0.0.1:$warm_port$path" >/dev/null
    done
    for n in 0 1 2; do
      side=${order[$(( (round - 1 + n) % 3 ))]}
      case "$side" in
        nginx_logged) wrk_case "$backend" L.nginx_logged "http://127.0.0.1:$NGINX_LOGGED_PORT/manifest.vpack" "" "" "$round" ;;
        wharf_warn) SERVER_PID=$warn_pid wrk_case "$backend" L.wharf_warn "http://127.0.0.1:$warn_port$path" \
          "X-ApiKey: $key" "" "$round" ;;
        wharf_default) SERVER_PID=$logged_pid wrk_case "$backend" L.wharf_default "http://127.0.0.1:$logged_port$path" \
          "X-ApiKey: $key" "" "$round" ;;
      esac
    done
    kill "$warn_pid" "$logged_pid"
    wait "$warn_pid" "$logged_pid" 2>/dev/null || true
  done
  # Wharf's count includes its warm-ups' lines; nginx's, its rounds' only.
  record "{\"backend\":\"$backend\",\"case\":\"L.log\",\"wharf_lines\":$(grep -c 'wharf::access' "$WORK/wharf-$backend-default.log" || true),\"nginx_lines\":$(wc -l < "$WORK/nginx-access.log")}"
}
