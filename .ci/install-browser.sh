#!/usr/bin/env bash
# Installs Debian's chromium for the browser tests when it is missing and we may install it.
# Without root (or apt) it only says so: the browser tests then skip, unless
# DIFFEMBED_REQUIRE_BROWSER=1 (set by .ci/run), which makes them fail instead.
set -u
if command -v chromium >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing Debian chromium for the browser tests..." >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null && apt-get install -y -qq chromium >/dev/null && exit 0
  echo "Could not install chromium with apt-get." >&2
  exit 1
fi
echo "chromium is not installed and this user cannot install it: browser tests will be skipped." >&2
exit 0
