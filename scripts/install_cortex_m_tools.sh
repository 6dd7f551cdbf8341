#!/usr/bin/env bash
# Installs what `tinyml profile` needs to build TFLM for a Cortex-M and run it in QEMU, when missing:
# Debian's Arm GCC with newlib and libstdc++, and qemu-system-arm (about 70 s; root only).
# The TFLM / CMSIS-NN sources come from TINYML_VENDOR_DIR (default ../shared/vendor) or a prepared
# checkout in TINYML_TFLM_DIR; the library itself is built on first use and cached (~/.cache/tinyml).
set -euo pipefail
packages=(gcc-arm-none-eabi libnewlib-arm-none-eabi libstdc++-arm-none-eabi-newlib qemu-system-arm gcc)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "Cortex-M tools: all installed"
    exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
    echo "Cortex-M tools missing: ${missing[*]}; installing them needs root and apt-get" \
         "(the emulator tests will be skipped)" >&2
    exit 0
fi
echo "installing ${missing[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
