#!/usr/bin/env bash
# Install the Debian packages the project needs that this machine lacks: Chromium for the
# browser tests, the Noto CJK fonts (without them every Chinese character is a box, on the
# pages and in the certificates' PDFs), HanaMin (fonts-hanazono: the rare name characters of
# CJK Extensions B to F that Noto lacks, for the printed certificates), poppler-utils to read
# PDFs back, Prometheus (its `prometheus` and `promtool`) for the metrics tests. `apt-get
# update` runs once, and only when something is missing; an installed package is never
# touched again.
set -euo pipefail
wanted=(chromium fonts-noto-cjk fonts-hanazono poppler-utils prometheus)
missing=()
for package in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$package")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=300 "${missing[@]}" >/dev/null
echo "installed: ${missing[*]}"
