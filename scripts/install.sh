#!/bin/sh
# Installs the Drover agent from a coordinator. Served by the coordinator at /install.sh with
# its address filled in:  curl -fsSL http://COORDINATOR/install.sh | sh -s -- --token TOKEN
#   [--prefix /usr/local] [--name NAME] [--group GROUP] [--capacity N] [--work-dir DIR] [--user drover]
#   [--executor host|sandbox] [--no-systemd] [--print-unit]
# The token goes to a 0600 file, never into a command line; with systemd, the agent runs as its own user in
# a hardened unit (`--print-unit` prints it and installs nothing).
set -eu
TOKEN="${DROVER_AGENT_TOKEN:-}"
PREFIX=/usr/local
NAME=$(hostname)
GROUP=default
CAPACITY=1
WORK_DIR=
SYSTEMD=auto
RUN_USER=drover
EXECUTOR=host
while [ $# -gt 0 ]; do
  case "$1" in
    --token) TOKEN=$2; shift 2 ;;
    --prefix) PREFIX=$2; shift 2 ;;
    --name) NAME=$2; shift 2 ;;
    --group) GROUP=$2; shift 2 ;;
    --capacity) CAPACITY=$2; shift 2 ;;
    --work-dir) WORK_DIR=$2; shift 2 ;;
    --user) RUN_USER=$2; shift 2 ;;
    --executor) EXECUTOR=$2; shift 2 ;;
    --no-systemd) SYSTEMD=no; shift ;;
    --print-unit) SYSTEMD=print; shift ;;
    *) echo "install.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
[ -n "$WORK_DIR" ] || WORK_DIR="$PREFIX/var/lib/drover-agent"

# The unit: the agent as its own user, the token as a systemd credential, the system read-only but for the
# work dir, its processes all stopped with it (KillMode=control-group), and a drained agent, which exits 0,
# left stopped (Restart=on-failure). The cgroup is delegated so that each step gets a group of its own;
# user namespaces stay allowed for the sandbox executor (bubblewrap).
print_unit() {
  # both mask files in /proc (read-only /proc/sys, /proc/kcore and /proc/kmsg hidden), and with such mounts above
  # it the kernel refuses a fresh /proc to an unprivileged user namespace: the sandbox's (bwrap --proc), and the
  # PID namespace a host agent would give each step (which then keeps to its delegated cgroups instead)
  if [ "$EXECUTOR" = sandbox ]; then
    KERNEL_MASKS="# no ProtectKernelTunables= or ProtectKernelLogs=: the sandbox mounts a /proc of its own"
  else
    KERNEL_MASKS="ProtectKernelTunables=yes
ProtectKernelLogs=yes"
  fi
  cat <<UNIT
[Unit]
Description=Drover CI agent
After=network-online.target
Wants=network-online.target

[Service]
Type=exec
User=$RUN_USER
Group=$RUN_USER
EnvironmentFile=$PREFIX/etc/drover/agent.env
LoadCredential=agent-token:$PREFIX/etc/drover/agent.token
ExecStart=$PREFIX/bin/drover-agent --token-file \${CREDENTIALS_DIRECTORY}/agent-token --executor $EXECUTOR
Restart=on-failure
RestartSec=2
KillMode=control-group
TimeoutStopSec=30
Delegate=yes
UMask=0077
NoNewPrivileges=yes
CapabilityBoundingSet=
AmbientCapabilities=
ProtectSystem=strict
ReadWritePaths=$WORK_DIR
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelModules=yes
$KERNEL_MASKS
ProtectClock=yes
ProtectHostname=yes
ProtectProc=invisible
RestrictSUIDSGID=yes
RestrictRealtime=yes
LockPersonality=yes
RemoveIPC=yes
KeyringMode=private
SystemCallArchitectures=native
SystemCallFilter=@system-service @mount
SystemCallErrorNumber=EPERM
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK
DevicePolicy=closed

[Install]
WantedBy=multi-user.target
UNIT
}
if [ "$SYSTEMD" = print ]; then print_unit; exit 0; fi
[ -n "$TOKEN" ] || { echo "install.sh: pass --token (the coordinator's agent token)" >&2; exit 2; }

__DROVER_LIB__
LIBC=
if ls /lib/ld-musl-* >/dev/null 2>&1; then LIBC=-musl; fi
BINARY="drover-agent-linux-$ARCH$LIBC"
download "$BINARY" "$TMP/drover-agent"

mkdir -p "$PREFIX/bin" "$PREFIX/etc/drover" "$WORK_DIR"
install -m 0755 "$TMP/drover-agent" "$PREFIX/bin/drover-agent"
umask 077
printf '%s\n' "$TOKEN" >"$PREFIX/etc/drover/agent.token"
cat >"$PREFIX/etc/drover/agent.env" <<CONF
DROVER_COORDINATOR=$COORDINATOR
DROVER_AGENT_TOKEN_FILE=$PREFIX/etc/drover/agent.token
DROVER_AGENT_NAME=$NAME
DROVER_AGENT_GROUP=$GROUP
DROVER_AGENT_CAPACITY=$CAPACITY
DROVER_AGENT_WORK_DIR=$WORK_DIR
CONF
echo "installed $PREFIX/bin/drover-agent ($ARCH$LIBC), config in $PREFIX/etc/drover/agent.env"

if [ "$SYSTEMD" = auto ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
  id -u "$RUN_USER" >/dev/null 2>&1 || useradd --system --home-dir "$WORK_DIR" --shell /usr/sbin/nologin "$RUN_USER"
  chown -R "$RUN_USER:" "$WORK_DIR"
  print_unit >/etc/systemd/system/drover-agent.service
  systemctl daemon-reload
  systemctl enable --now drover-agent.service
  echo "drover-agent.service is enabled and started (as $RUN_USER); drained, it stays stopped until systemctl start"
else
  echo "no systemd here: start the agent with"
  echo "  set -a; . $PREFIX/etc/drover/agent.env; set +a; $PREFIX/bin/drover-agent"
fi
