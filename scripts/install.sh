#!/bin/sh
# Installs the Drover agent from a coordinator. Served by the coordinator at /install.sh with
# its address filled in:  curl -fsSL http://COORDINATOR/install.sh | sh -s -- --token TOKEN
#   [--prefix /usr/local] [--name NAME] [--group GROUP] [--capacity N] [--work-dir DIR] [--no-systemd]
set -eu
COORDINATOR="${DROVER_COORDINATOR:-__DROVER_COORDINATOR__}"
TOKEN="${DROVER_AGENT_TOKEN:-}"
PREFIX=/usr/local
NAME=$(hostname)
GROUP=default
CAPACITY=1
WORK_DIR=
SYSTEMD=auto
while [ $# -gt 0 ]; do
  case "$1" in
    --token) TOKEN=$2; shift 2 ;;
    --prefix) PREFIX=$2; shift 2 ;;
    --name) NAME=$2; shift 2 ;;
    --group) GROUP=$2; shift 2 ;;
    --capacity) CAPACITY=$2; shift 2 ;;
    --work-dir) WORK_DIR=$2; shift 2 ;;
    --no-systemd) SYSTEMD=no; shift ;;
    *) echo "install.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
[ -n "$TOKEN" ] || { echo "install.sh: pass --token (the coordinator's agent token)" >&2; exit 2; }
[ -n "$WORK_DIR" ] || WORK_DIR="$PREFIX/var/lib/drover-agent"

case "$(uname -m)" in
  x86_64|amd64) ARCH=amd64 ;;
  aarch64|arm64) ARCH=arm64 ;;
  *) echo "install.sh: no agent build for $(uname -m)" >&2; exit 1 ;;
esac
LIBC=
if ls /lib/ld-musl-* >/dev/null 2>&1; then LIBC=-musl; fi
BINARY="drover-agent-linux-$ARCH$LIBC"

fetch() {
  if command -v curl >/dev/null 2>&1; then curl -fsSL "$1" -o "$2"
  elif command -v wget >/dev/null 2>&1; then wget -q "$1" -O "$2"
  else echo "install.sh: needs curl or wget" >&2; exit 1; fi
}
sha256() {
  if command -v sha256sum >/dev/null 2>&1; then sha256sum "$1" | cut -d' ' -f1
  else shasum -a 256 "$1" | cut -d' ' -f1; fi
}

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
echo "downloading $BINARY from $COORDINATOR"
fetch "$COORDINATOR/download/$BINARY" "$TMP/drover-agent"
fetch "$COORDINATOR/download/$BINARY.sha256" "$TMP/sum"
expected=$(cut -d' ' -f1 <"$TMP/sum")
actual=$(sha256 "$TMP/drover-agent")
[ "$expected" = "$actual" ] || { echo "install.sh: checksum mismatch ($actual, expected $expected)" >&2; exit 1; }

mkdir -p "$PREFIX/bin" "$PREFIX/etc/drover" "$WORK_DIR"
install -m 0755 "$TMP/drover-agent" "$PREFIX/bin/drover-agent"
umask 077
cat >"$PREFIX/etc/drover/agent.env" <<CONF
DROVER_COORDINATOR=$COORDINATOR
DROVER_AGENT_TOKEN=$TOKEN
DROVER_AGENT_NAME=$NAME
DROVER_AGENT_GROUP=$GROUP
DROVER_AGENT_CAPACITY=$CAPACITY
DROVER_AGENT_WORK_DIR=$WORK_DIR
CONF
echo "installed $PREFIX/bin/drover-agent ($ARCH$LIBC), config in $PREFIX/etc/drover/agent.env"

if [ "$SYSTEMD" = auto ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
  cat >/etc/systemd/system/drover-agent.service <<UNIT
[Unit]
Description=Drover CI agent
After=network-online.target
Wants=network-online.target

[Service]
EnvironmentFile=$PREFIX/etc/drover/agent.env
ExecStart=$PREFIX/bin/drover-agent
Restart=always
RestartSec=2
KillMode=mixed
TimeoutStopSec=infinity

[Install]
WantedBy=multi-user.target
UNIT
  systemctl daemon-reload
  systemctl enable --now drover-agent.service
  echo "drover-agent.service is enabled and started"
else
  echo "no systemd here: start the agent with"
  echo "  set -a; . $PREFIX/etc/drover/agent.env; set +a; $PREFIX/bin/drover-agent"
fi
