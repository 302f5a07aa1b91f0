#!/bin/bash
# registry.sh start DIR [USER PASSWORD] - starts Debian's docker-registry (the
#   CNCF distribution server) on 127.0.0.1 at a free port, storing into
#   DIR/data, with htpasswd (bcrypt) auth when USER and PASSWORD are given.
#   Prints the address (127.0.0.1:PORT) once the registry answers.
# registry.sh stop DIR - stops the registry started with DIR.
# Used by cli/tests/it/registry.rs and bench/registry.sh; never reaches out
# of the machine.
set -eu
cmd=${1:?usage: registry.sh start|stop DIR [USER PASSWORD]}
dir=${2:?usage: registry.sh start|stop DIR [USER PASSWORD]}

stop() {
    if [ -f "$dir/pid" ]; then
        kill "$(cat "$dir/pid")" 2>/dev/null || true
        rm -f "$dir/pid"
    fi
}

answers() { # port: does something accept connections there?
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

start() {
    command -v docker-registry >/dev/null ||
        { echo "registry.sh: docker-registry not found (apt-get install docker-registry)" >&2; exit 1; }
    mkdir -p "$dir/data"
    local auth=""
    if [ $# -ge 2 ]; then
        command -v htpasswd >/dev/null ||
            { echo "registry.sh: htpasswd not found (apt-get install apache2-utils)" >&2; exit 1; }
        htpasswd -Bbc "$dir/htpasswd" "$1" "$2" 2>/dev/null
        auth="auth:
  htpasswd:
    realm: kiln-test
    path: $dir/htpasswd"
    fi
    local try port
    for try in 1 2 3 4 5 6 7 8 9 10; do
        port=$((20000 + RANDOM % 30000))
        answers "$port" && continue
        cat > "$dir/config.yml" <<YAML
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $dir/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
$auth
YAML
        setsid docker-registry serve "$dir/config.yml" >"$dir/log" 2>&1 </dev/null &
        echo $! > "$dir/pid"
        local waited
        for waited in $(seq 1 100); do
            if answers "$port"; then
                echo "127.0.0.1:$port"
                return 0
            fi
            kill -0 "$(cat "$dir/pid")" 2>/dev/null || break
            sleep 0.1
        done
        stop
    done
    echo "registry.sh: docker-registry did not start; its log:" >&2
    cat "$dir/log" >&2 || true
    exit 1
}

case $cmd in
    start) shift 2; start "$@" ;;
    stop) stop ;;
    *) echo "registry.sh: unknown command $cmd" >&2; exit 2 ;;
esac
