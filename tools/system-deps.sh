#!/usr/bin/env bash
# Install the Debian packages the test suite needs when they are missing:
# PostgreSQL 15 (the sync tests start a real server), the libraries Qt needs
# offscreen, and fonts. Needs root (CI runs as root); otherwise says what to install.
set -euo pipefail
need=()
[ -x /usr/lib/postgresql/15/bin/postgres ] || need+=(postgresql-15)
[ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need+=(fonts-dejavu-core)
command -v pdftoppm >/dev/null || need+=(poppler-utils)  # tests render PDFs to decode barcodes
ldconfig -p 2>/dev/null | grep -q 'libEGL.so.1' || need+=(libegl1)
ldconfig -p 2>/dev/null | grep -q 'libxkbcommon.so.0' || need+=(libxkbcommon0)
ldconfig -p 2>/dev/null | grep -q 'libfontconfig.so.1' || need+=(libfontconfig1)
ldconfig -p 2>/dev/null | grep -q 'libGL.so.1' || need+=(libgl1)
ldconfig -p 2>/dev/null | grep -q 'libdbus-1.so.3' || need+=(libdbus-1-3)
command -v runuser >/dev/null || need+=(util-linux)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "Missing system packages: ${need[*]} (install them with apt-get as root)." >&2
  exit 1
fi
echo "Installing system packages: ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
