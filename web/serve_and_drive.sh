# Sourced by web/test.sh and web/full_run.sh: `serve_and_drive DIST OUT PAGE_PORT DRIVER_PORT
# [PREFIX...]` serves DIST on 127.0.0.1:PAGE_PORT, starts chromedriver on DRIVER_PORT (run
# under PREFIX, e.g. `chrt --idle 0`, when given), logs both under OUT, stops both when the
# calling script exits, and returns once chromedriver accepts connections.
serve_and_drive() {
  local dist=$1 out=$2 page_port=$3 driver_port=$4
  shift 4
  python3 -m http.server --bind 127.0.0.1 --directory "$dist" "$page_port" >"$out/http.log" 2>&1 &
  serve_and_drive_server=$!
  "$@" chromedriver --port="$driver_port" >"$out/chromedriver.log" 2>&1 &
  serve_and_drive_driver=$!
  trap 'kill $serve_and_drive_server $serve_and_drive_driver 2>/dev/null || true' EXIT
  for _ in $(seq 50); do
    (exec 3<>"/dev/tcp/127.0.0.1/$driver_port") 2>/dev/null && break
    sleep 0.2
  done
}
