#!/bin/sh
# Installs the drover command from a coordinator. Served by the coordinator at /install-cli.sh with
# its address filled in:  curl -fsSL http://COORDINATOR/install-cli.sh | sh [-s -- --prefix DIR]
# Without --prefix: /usr/local when writable (root), else ~/.local.
set -eu
PREFIX=
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) PREFIX=$2; shift 2 ;;
    *) echo "install-cli.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
if [ -z "$PREFIX" ]; then
  if [ -w /usr/local/bin ]; then PREFIX=/usr/local; else PREFIX="$HOME/.local"; fi
fi
__DROVER_LIB__
download "drover-linux-$ARCH" "$TMP/drover"
mkdir -p "$PREFIX/bin"
install -m 0755 "$TMP/drover" "$PREFIX/bin/drover"
echo "installed $PREFIX/bin/drover ($ARCH)"
case ":$PATH:" in *":$PREFIX/bin:"*) ;; *) echo "add $PREFIX/bin to PATH to run it as drover" ;; esac
echo "then: export DROVER_URL=$COORDINATOR DROVER_TOKEN=<your token>; drover init; drover lint; drover run"
