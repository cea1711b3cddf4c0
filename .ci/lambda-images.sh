#!/usr/bin/env bash
# Make the two images SAM CLI needs available to the local Docker engine:
#   public.ecr.aws/lambda/python:3.13(-x86_64)      runtime image for `sam local invoke/start-lambda`
#   public.ecr.aws/sam/build-python3.13:latest-x86_64  build image for `sam build --use-container`
# A machine with registry access gets the real AWS images. Where they cannot be pulled (the
# machines here reach only package registries) it builds stand-ins from Debian trixie (Python 3.13)
# with debootstrap, awslambdaric and aws-lambda-builders, as ../shared/ARCHITECTURE.md describes.
# Idempotent: images already present are kept; the rootfs tarballs are cached in $CACHE_DIR.
set -euo pipefail

RUNTIME_TAGS=(public.ecr.aws/lambda/python:3.13 public.ecr.aws/lambda/python:3.13-x86_64)
BUILD_TAGS=(public.ecr.aws/sam/build-python3.13:latest-x86_64 public.ecr.aws/sam/build-python3.13:latest)
CACHE_DIR=${LAMBDA_IMAGES_CACHE:-/var/cache/lambda-suite-images}
SUITE=${LAMBDA_IMAGES_SUITE:-trixie}
HOST_PIP=${HOST_PIP:-python3 -m pip}

# Bump when the stand-in recipe changes: images built by an older recipe are rebuilt.
STANDIN_RECIPE=2

have_image() {
  # A pulled AWS image (it has a registry digest) or a stand-in built by the current recipe.
  local digests label
  digests=$(docker image inspect --format '{{ len .RepoDigests }}' "$1" 2>/dev/null) || return 1
  [ "$digests" != "0" ] && return 0
  label=$(docker image inspect --format '{{ index .Config.Labels "lambda-suite.standin-recipe" }}' "$1")
  [ "$label" = "$STANDIN_RECIPE" ]
}

try_pull() {
  # A registry that cannot be reached answers slowly or not at all; bound the wait.
  timeout 60 docker pull -q "$1" >/dev/null 2>&1
}

tag_all() {
  local source=$1; shift
  for tag in "$@"; do docker tag "$source" "$tag"; done
}

make_rootfs() {
  # $1: directory to fill with a minimal Debian + python3 (cached as a tarball).
  local root=$1
  local cached="$CACHE_DIR/debian-$SUITE-python3.tar"
  mkdir -p "$CACHE_DIR" "$root"
  if [ ! -s "$cached" ]; then
    if ! command -v debootstrap >/dev/null 2>&1; then
      DEBIAN_FRONTEND=noninteractive apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
    fi
    local staging
    staging=$(mktemp -d)
    echo "lambda-images: debootstrap $SUITE (a few minutes, once)"
    debootstrap --variant=minbase --include=python3,ca-certificates "$SUITE" "$staging" \
      http://deb.debian.org/debian >"$CACHE_DIR/debootstrap.log" 2>&1 \
      || { tail -n 30 "$CACHE_DIR/debootstrap.log" >&2; exit 1; }
    rm -rf "$staging"/var/cache/apt/archives/*.deb "$staging"/var/lib/apt/lists/*
    tar -C "$staging" -cf "$cached.tmp" .
    mv "$cached.tmp" "$cached"
    rm -rf "$staging"
  fi
  tar -C "$root" -xf "$cached"
}

pip_into() {
  # $1: target directory, rest: packages. Wheels for CPython 3.13 / manylinux x86_64 only,
  # whatever Python the host runs.
  local target=$1; shift
  $HOST_PIP install --quiet --no-compile --target "$target" --python-version 3.13 \
    --implementation cp --platform manylinux2014_x86_64 --platform manylinux_2_28_x86_64 \
    --only-binary=:all: "$@"
}

build_image() {
  # $1: build context holding rootfs/ ; rest: tags.
  local context=$1; shift
  tar -C "$context/rootfs" -cf "$context/rootfs.tar" .
  rm -rf "$context/rootfs"
  cat >"$context/Dockerfile" <<EOF
FROM scratch
ADD rootfs.tar /
LABEL lambda-suite.standin-recipe=$STANDIN_RECIPE
ENV LAMBDA_TASK_ROOT=/var/task LAMBDA_RUNTIME_DIR=/var/runtime LANG=C.UTF-8 \
    PATH=/var/lang/bin:/usr/local/bin:/usr/bin:/bin:/opt/bin \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt PIP_CERT=/etc/ssl/certs/ca-certificates.crt
WORKDIR /var/task
ENTRYPOINT ["/var/runtime/bootstrap"]
EOF
  docker build -q -t "$1" "$context" >/dev/null
  tag_all "$1" "$@"
}

runtime_image() {
  local context root
  context=$(mktemp -d); root="$context/rootfs"
  make_rootfs "$root"
  mkdir -p "$root/var/runtime" "$root/var/task" "$root/opt"
  # The real python3.13 image ships boto3 next to the runtime client; functions rely on it.
  pip_into "$root/var/runtime" awslambdaric boto3
  cat >"$root/var/runtime/bootstrap" <<'EOF'
#!/bin/sh
# Lambda custom-runtime bootstrap: the Runtime Interface Client serves $_HANDLER.
export PYTHONPATH="/var/runtime:/var/task:/opt/python${PYTHONPATH:+:$PYTHONPATH}"
exec /usr/bin/python3 -m awslambdaric "$_HANDLER"
EOF
  chmod +x "$root/var/runtime/bootstrap"
  build_image "$context" "${RUNTIME_TAGS[@]}"
  rm -rf "$context"
  # SAM caches the runtime image with the layers added on top; drop it so it is rebuilt from this one.
  docker images --format '{{.Repository}}:{{.Tag}}' | grep '^samcli/lambda-python' | xargs -r docker rmi -f >/dev/null || true
}

build_image_standin() {
  local context root site
  context=$(mktemp -d); root="$context/rootfs"
  make_rootfs "$root"
  site="$root/usr/local/lib/python3.13/dist-packages"
  mkdir -p "$site" "$root/usr/local/bin" "$root/var/runtime" "$root/var/task"
  pip_into "$site" aws-lambda-builders pip setuptools wheel
  cat >"$root/usr/local/bin/lambda-builders" <<'EOF'
#!/usr/bin/python3
import sys
from aws_lambda_builders.__main__ import main
sys.exit(main())
EOF
  for name in pip pip3 pip3.13; do
    printf '#!/bin/sh\nexec /usr/bin/python3 -m pip "$@"\n' >"$root/usr/local/bin/$name"
  done
  chmod +x "$root"/usr/local/bin/*
  # The package index is reached through a TLS proxy whose CA only the host's bundle holds.
  cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
  printf '#!/bin/sh\nexec "$@"\n' >"$root/var/runtime/bootstrap"
  chmod +x "$root/var/runtime/bootstrap"
  build_image "$context" "${BUILD_TAGS[@]}"
  rm -rf "$context"
}

ensure() {
  # $1: builder function, rest: tags (the first is the one to pull).
  local builder=$1; shift
  if have_image "$1"; then
    tag_all "$1" "$@"
    echo "lambda-images: $1 present"
  elif try_pull "$1"; then
    tag_all "$1" "$@"
    echo "lambda-images: pulled $1"
  else
    echo "lambda-images: $1 cannot be pulled; building a stand-in"
    "$builder"
    echo "lambda-images: built $1"
  fi
}

ensure runtime_image "${RUNTIME_TAGS[@]}"
ensure build_image_standin "${BUILD_TAGS[@]}"
docker image prune -f >/dev/null 2>&1 || true
