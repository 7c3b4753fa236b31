#!/usr/bin/env bash
# The container image's build and start steps, in one script. The Dockerfile runs it (build stage: `build`,
# container command: `start`), and so does CI (test/release/release.test.ts) in a clean folder: there is no
# container engine on the project's machines, so the image itself is not built there, but these steps are.
#
#   deploy/image-build.sh build SRC_DIR APP_DIR
#     1. dependencies for building (npm ci) unless SRC_DIR/node_modules exists already
#     2. build: the PWA (vite) and the server as bundled JavaScript (esbuild) into SRC_DIR/dist
#     3. pack: npm pack, the release tarball (bin/, dist/, deploy/, pwa/login/inject.js, pwa/pair/, pwa/sso/, README.md)
#     4. unpack into APP_DIR and install the production dependencies only (npm ci --omit=dev): no
#        TypeScript, no tsx, no Vite in the result
#     5. check: `jellyguard --version` runs from APP_DIR
#   deploy/image-build.sh start APP_DIR
#     runs the gateway from APP_DIR (exec: node receives SIGTERM from `docker stop` itself)
#
# Extra flags for the production install can be given in JELLYGUARD_NPM_FLAGS (CI: --prefer-offline).
set -euo pipefail

cmd=${1:-}
case "$cmd" in
  build)
    [ $# -eq 3 ] || { echo "usage: $0 build SRC_DIR APP_DIR" >&2; exit 64; }
    src=$(cd "$2" && pwd)
    app=$3
    [ ! -e "$app" ] || [ -z "$(ls -A "$app")" ] || { echo "$app is not empty" >&2; exit 1; }
    cd "$src"
    if [ ! -d node_modules ]; then
      npm ci --no-audit --no-fund
    fi
    npm run build --silent
    pack_dir=$(mktemp -d)
    trap 'rm -rf "$pack_dir"' EXIT
    npm pack --ignore-scripts --silent --pack-destination "$pack_dir" >/dev/null
    mkdir -p "$app"
    tar -xzf "$pack_dir"/jellyguard-*.tgz -C "$app" --strip-components=1 --no-same-owner
    # npm pack leaves the lockfile out; the install below must use the same versions CI tested.
    cp package-lock.json "$app/"
    cd "$app"
    # shellcheck disable=SC2086
    npm ci --omit=dev --no-audit --no-fund ${JELLYGUARD_NPM_FLAGS:-}
    node bin/jellyguard.js --version >/dev/null
    echo "jellyguard $(node bin/jellyguard.js --version) built into $app"
    ;;
  start)
    [ $# -eq 2 ] || { echo "usage: $0 start APP_DIR" >&2; exit 64; }
    exec node "$2/bin/jellyguard.js" start
    ;;
  *)
    echo "usage: $0 build SRC_DIR APP_DIR | start APP_DIR" >&2
    exit 64
    ;;
esac
