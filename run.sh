#!/usr/bin/env bash
# One command for a fresh machine: installs what is missing (Deno 2.9.6 through npm; on Linux with no
# Vulkan driver, Mesa's lavapipe CPU driver through apt-get), then runs `deno task <task> [args...]`.
#   ./run.sh train        fine-tune (see README)
#   ./run.sh test         the test suite
set -euo pipefail
cd "$(dirname "$0")"
DENO_VERSION=2.9.6
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}

if ! command -v deno >/dev/null 2>&1 || [ "$(deno --version 2>/dev/null | head -n1 | cut -d' ' -f2)" != "$DENO_VERSION" ]; then
  if [ -x "$HOME/.deno-$DENO_VERSION/bin/deno" ]; then
    export PATH="$HOME/.deno-$DENO_VERSION/bin:$PATH"
  else
    echo "installing Deno $DENO_VERSION through npm ..." >&2
    if [ "$(id -u)" = 0 ]; then
      npm install -g "deno@$DENO_VERSION" >/dev/null 2>&1
    else
      npm install -g --prefix "$HOME/.deno-$DENO_VERSION" "deno@$DENO_VERSION" >/dev/null 2>&1
      export PATH="$HOME/.deno-$DENO_VERSION/bin:$PATH"
    fi
  fi
fi

# True when any Vulkan ICD manifest is installed (either folder may be empty or missing).
has_vulkan_driver() {
  local manifest
  for manifest in /usr/share/vulkan/icd.d/*.json /etc/vulkan/icd.d/*.json; do
    [ -e "$manifest" ] && return 0
  done
  return 1
}
if [ "$(uname -s)" = Linux ] && ! has_vulkan_driver; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "no Vulkan driver: installing Mesa's lavapipe (CPU) through apt-get ..." >&2
    export DEBIAN_FRONTEND=noninteractive
    # Mesa 25 from bookworm-backports runs our kernels about 40% faster than bookworm's 22.3.
    if grep -qs 'bookworm' /etc/os-release && ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
      echo 'deb http://deb.debian.org/debian bookworm-backports main' > /etc/apt/sources.list.d/bookworm-backports.list
    fi
    apt-get update >/dev/null
    if grep -qs 'bookworm' /etc/os-release; then
      apt-get install -y -t bookworm-backports mesa-vulkan-drivers >/dev/null || apt-get install -y mesa-vulkan-drivers >/dev/null
    else
      apt-get install -y mesa-vulkan-drivers >/dev/null
    fi
  else
    echo "no Vulkan driver found; install one, e.g.: sudo apt-get update && sudo apt-get install -y mesa-vulkan-drivers" >&2
  fi
fi

task=${1:-train}
shift || true
exec deno task "$task" "$@"
