# Shared by install.sh and install-cli.sh: the coordinator puts it in place of their __DROVER_LIB__ line.
COORDINATOR="${DROVER_COORDINATOR:-__DROVER_COORDINATOR__}"
case "$(uname -m)" in
  x86_64|amd64) ARCH=amd64 ;;
  aarch64|arm64) ARCH=arm64 ;;
  *) echo "install: no build for $(uname -m)" >&2; exit 1 ;;
esac
fetch() {
  if command -v curl >/dev/null 2>&1; then curl -fsSL "$1" -o "$2"
  elif command -v wget >/dev/null 2>&1; then wget -q "$1" -O "$2"
  else echo "install: needs curl or wget" >&2; exit 1; fi
}
sha256() {
  if command -v sha256sum >/dev/null 2>&1; then sha256sum "$1" | cut -d' ' -f1
  else shasum -a 256 "$1" | cut -d' ' -f1; fi
}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
# download NAME FILE: /download/NAME into FILE, checked against /download/NAME.sha256
download() {
  echo "downloading $1 from $COORDINATOR"
  fetch "$COORDINATOR/download/$1" "$2"
  fetch "$COORDINATOR/download/$1.sha256" "$TMP/sum"
  expected=$(cut -d' ' -f1 <"$TMP/sum")
  actual=$(sha256 "$2")
  [ "$expected" = "$actual" ] || { echo "install: checksum mismatch ($actual, expected $expected)" >&2; exit 1; }
}
