#!/bin/sh
# Entry point of every worker image: `emulator-worker serve`, configured by environment variables.
#
# Exposure follows the keys. With a CurveZMQ key pair AND a folder of authorized client keys
# mounted, the host binds all interfaces so that the Ray cluster can reach it, and refuses
# clients whose key is not in the folder. Without keys it binds loopback only, which from
# outside the container means unreachable: an image started carelessly exposes nothing.
#
#   WORKER_BACKEND           sim | retro | bizhawk                       (image default)
#   WORKER_SLOTS             emulator processes                          (image default)
#   WORKER_BACKEND_OPTIONS   JSON object of backend options              (image default, else {})
#   WORKER_PORT              ZeroMQ port                                 (5555)
#   WORKER_SECRET_KEY        host key pair file                          (/keys/server/worker.key_secret)
#   WORKER_AUTHORIZED_KEYS   folder of clients' public *.key files       (/keys/authorized)
#   WORKER_HOST              interface to bind when keys are present     (0.0.0.0)
#   WORKER_ROMS              retro only: folder of ROMs to import first  (/roms)
#
# Arguments starting with "-" are appended to `serve` (e.g. --idle-exit 600); any other
# arguments run instead of the server (e.g. `emulator-worker keygen /keys/server`).
set -eu

if [ "$#" -gt 0 ] && [ "${1#-}" = "$1" ]; then
  exec "$@"
fi

backend="${WORKER_BACKEND:-sim}"
slots="${WORKER_SLOTS:-1}"
port="${WORKER_PORT:-5555}"
options="${WORKER_BACKEND_OPTIONS:-}"
[ -n "$options" ] || options='{}'
secret="${WORKER_SECRET_KEY:-/keys/server/worker.key_secret}"
authorized="${WORKER_AUTHORIZED_KEYS:-/keys/authorized}"
roms="${WORKER_ROMS:-/roms}"

if [ "$backend" = retro ] && [ -d "$roms" ]; then
  # stable-retro only loads ROMs imported into its data folder, matched by checksum.
  python -m stable_retro.import "$roms"
fi

if [ -f "$secret" ] && [ -d "$authorized" ]; then
  exec emulator-worker serve --backend "$backend" --slots "$slots" --backend-options "$options" \
    --bind "tcp://${WORKER_HOST:-0.0.0.0}:${port}" \
    --curve-secret-key "$secret" --authorized-keys "$authorized" "$@"
fi

if [ -e "$secret" ] || [ -e "$authorized" ]; then
  # Half a key setup is a mistake; serving on loopback instead would look like a network fault.
  echo "worker-entrypoint: CurveZMQ needs both $secret (host key pair) and $authorized (client keys folder)" >&2
  exit 2
fi

echo "worker-entrypoint: no CurveZMQ keys mounted; binding 127.0.0.1:${port} (unreachable from outside the container)" >&2
exec emulator-worker serve --backend "$backend" --slots "$slots" --backend-options "$options" \
  --bind "tcp://127.0.0.1:${port}" "$@"
