#!/usr/bin/env bash
# Installs Debian's headless Java for the Spark test (tests/test_spark.py) when it is missing and
# we may install it. Never fails the build: without root, apt or network the Spark test skips,
# saying that Java is missing.
set -u
if command -v java >/dev/null 2>&1 || { [ -n "${JAVA_HOME:-}" ] && [ -x "$JAVA_HOME/bin/java" ]; }; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing Debian default-jre-headless for the Spark test..." >&2
  export DEBIAN_FRONTEND=noninteractive
  if apt-get update -qq >/dev/null && apt-get install -y -qq default-jre-headless >/dev/null; then
    exit 0
  fi
  echo "Could not install default-jre-headless with apt-get: the Spark test will be skipped." >&2
  exit 0
fi
echo "java is not installed and this user cannot install it: the Spark test will be skipped." >&2
exit 0
