#!/usr/bin/env bash
# The image stage's tools: debootstrap builds the local Debian base images of `buildplat run` (and their slow
# test); skopeo (installed by install-test-deps) moves images between layouts, registries and dockerd in tests.
set -euo pipefail

if [[ "$(dpkg-query -W -f='${db:Status-Status}' debootstrap 2>/dev/null || true)" == "installed" ]]; then
    exit 0
fi
if [[ $EUID -ne 0 ]]; then
    echo "install.d/20-image-tools: must run as root to install debootstrap" >&2
    exit 1
fi
echo "install.d/20-image-tools: installing debootstrap"
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null \
    || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null; }
