# Shared set-up steps for scripts/test, scripts/dev and .ci/run. Sourced, not run.
VENV="${OPENKCM_VENV:-$PWD/.venv}"
PY="$VENV/bin/python"

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else "$@"; fi
}

ensure_system_packages() {
    # SoftHSM2 backs the PKCS#11 keystore tests.
    if [ ! -e /usr/lib/softhsm/libsofthsm2.so ] || ! command -v softhsm2-util >/dev/null; then
        echo "== installing softhsm2"
        as_root apt-get update -qq
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq softhsm2 >/dev/null
    fi
    # A C compiler and OpenSSL's headers build the C load generator (loadtests/kmip_loadgen.c).
    if [ ! -e /usr/include/openssl/ssl.h ] || ! command -v cc >/dev/null; then
        echo "== installing gcc and libssl-dev"
        as_root apt-get update -qq
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc libc6-dev libssl-dev >/dev/null
    fi
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

ensure_services() {
    # PostgreSQL, RabbitMQ, Redis and NATS run on loopback on this kind of machine; start any that is down.
    if ! port_open 5432 && command -v pg_ctlcluster >/dev/null; then
        echo "== starting PostgreSQL"
        as_root pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start || true
    fi
    if ! port_open 5672 && command -v rabbitmq-server >/dev/null; then
        echo "== starting RabbitMQ"
        as_root rabbitmq-server -detached || true
    fi
}

ensure_venv() {
    if [ ! -x "$PY" ]; then
        echo "== creating $VENV"
        python3 -m venv "$VENV"
    fi
    local stamp="$VENV/.openkcm-installed"
    # Reinstall when the project's metadata or its C extension changed (pip install -e builds it).
    if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ setup.py -nt "$stamp" ] \
        || [ src/ttlv/_speedups.c -nt "$stamp" ]; then
        echo "== installing openkcm with its test and dev extras"
        "$PY" -m pip install -q --upgrade pip
        "$PY" -m pip install -q -e ".[aws,pkcs11,test,dev]"
        touch "$stamp"
    fi
}
