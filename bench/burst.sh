# Sourced by bench/run: case G, many small distinct packages published at
# once, as a CI farm does (examples/upload_burst.rs drives it).
#
# burst_case BACKEND: starts Wharf (this build, and OLD_WHARF when set) on
# fresh data with its default settings, logs on, as an operator runs it;
# then three rounds, alternating nginx WebDAV PUT, this build and the old
# one, each putting BURST_COUNT distinct packages from BURST_CLIENTS
# keep-alive clients. Records one row per round and server.

BURST=$BUILD_DIR/examples/upload_burst

# burst_server NAME BINARY BACKEND: starts a server; sets BURST_PORT.
burst_server() {
  local name=$1 binary=$2 backend=$3 db_env=()
  BURST_PORT=$(free_port)
  if [ "$backend" = postgres ]; then
    psql "$POSTGRES_URL" -qc "CREATE DATABASE burst_$name" >/dev/null
    db_env=(DATABASE_URL="${POSTGRES_URL%/*}/burst_$name")
  fi
  env "${db_env[@]}" WHARF_ADMIN_API_KEY=$ADMIN_KEY WHARF_DATA_DIR="$WORK/burst-$name" \
    WHARF_BIND=127.0.0.1:$BURST_PORT "$binary" serve >"$WORK/burst-$name.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$BURST_PORT/health" >/dev/null && break; sleep 0.1; done
}

burst_case() {
  local backend=$1 new_port old_port="" round line
  burst_server "new_$backend" "$WHARF" "$backend"; new_port=$BURST_PORT
  if [ -n "${OLD_WHARF:-}" ]; then
    burst_server "old_$backend" "$OLD_WHARF" "$backend"; old_port=$BURST_PORT
  fi
  for round in 1 2 3; do
    line=$("$BURST" "$NGINX/dav/burst/" "$BURST_COUNT" "$BURST_CLIENTS" "n$backend$round")
    record "{\"backend\":\"$backend\",\"case\":\"G.nginx\",\"round\":$round,\"burst\":$line}"
    echo "   $backend G.nginx round $round: $line" >&2
    line=$("$BURST" "http://127.0.0.1:$new_port/upack/default/upload" "$BURST_COUNT" "$BURST_CLIENTS" \
      "w$round" "X-ApiKey: $ADMIN_KEY")
    record "{\"backend\":\"$backend\",\"case\":\"G.wharf\",\"round\":$round,\"burst\":$line}"
    echo "   $backend G.wharf round $round: $line" >&2
    if [ -n "$old_port" ]; then
      line=$("$BURST" "http://127.0.0.1:$old_port/upack/default/upload" "$BURST_COUNT" "$BURST_CLIENTS" \
        "o$round" "X-ApiKey: $ADMIN_KEY")
      record "{\"backend\":\"$backend\",\"case\":\"G.old\",\"round\":$round,\"burst\":$line}"
      echo "   $backend G.old round $round: $line" >&2
    fi
  done
}
