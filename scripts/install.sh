#!/bin/sh
# Installs the Drover agent from a coordinator. Served by the coordinator at /install.sh with
# its address filled in:  curl -fsSL http://COORDINATOR/install.sh | sh -s -- --token TOKEN
#   [--prefix /usr/local] [--name NAME] [--group GROUP] [--capacity N] [--work-dir DIR] [--no-systemd]
set -eu
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

__DROVER_LIB__
LIBC=
if ls /lib/ld-musl-* >/dev/null 2>&1; then LIBC=-musl; fi
BINARY="drover-agent-linux-$ARCH$LIBC"
download "$BINARY" "$TMP/drover-agent"

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
