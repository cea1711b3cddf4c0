#!/usr/bin/env bash
# Install and start a Docker engine (dockerd) when none answers. Idempotent: a machine whose
# `docker info` already answers is left alone. Needs root (apt-get, dockerd).
set -euo pipefail

if docker info >/dev/null 2>&1; then
  echo "docker-engine: already running"
  exit 0
fi

if ! command -v dockerd >/dev/null 2>&1; then
  echo "docker-engine: installing docker.io"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq docker.io >/dev/null
fi

echo "docker-engine: starting dockerd"
mkdir -p /var/log
nohup dockerd >/var/log/dockerd.log 2>&1 &

for _ in $(seq 1 60); do
  if docker info >/dev/null 2>&1; then
    echo "docker-engine: ready ($(docker info --format '{{.ServerVersion}} / {{.Driver}}'))"
    exit 0
  fi
  sleep 1
done
echo "docker-engine: dockerd did not answer within 60 s; last log lines:" >&2
tail -n 30 /var/log/dockerd.log >&2
exit 1
