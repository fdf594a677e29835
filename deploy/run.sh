#!/usr/bin/env bash
# `make run`: bring the databases up to date, then run every process in the foreground under
# honcho (Procfile). Ctrl-C stops everything it started.
set -euo pipefail
cd "$(dirname "$0")/.."
source .venv/bin/activate
export CB_VAR_DIR=${CB_VAR_DIR:-$PWD/var}
mkdir -p "$CB_VAR_DIR" && chmod 700 "$CB_VAR_DIR"
CREDS=$CB_VAR_DIR/local-credentials
if [[ ! -f $CREDS ]]; then
  umask 077
  cat > "$CREDS" <<CREDS
CB_ADMIN_USERNAME=admin
CB_ADMIN_PASSWORD=$(python -c 'import secrets; print(secrets.token_urlsafe(12))')
CB_FLOWER_USER=ops
CB_FLOWER_PASSWORD=$(python -c 'import secrets; print(secrets.token_urlsafe(12))')
CREDS
fi
# Values already in the environment win over the generated local ones.
while IFS='=' read -r key value; do
  [[ -n $key && -z ${!key:-} ]] && export "$key=$value"
done < "$CREDS"

python -m deploy.bootstrap

cat <<BANNER

  Zhejiang Credit Bank is starting (Ctrl-C stops everything):
    window  http://127.0.0.1:8005   <- open this first: the service window, review desk, admin
    org     http://127.0.0.1:8001   docs http://127.0.0.1:8001/docs
    intake  http://127.0.0.1:8002   docs http://127.0.0.1:8002/docs
    review  http://127.0.0.1:8003   docs http://127.0.0.1:8003/docs
    notify  http://127.0.0.1:8004   docs http://127.0.0.1:8004/docs
    Flower  http://127.0.0.1:5555   user ${CB_FLOWER_USER} / password ${CB_FLOWER_PASSWORD}
    metrics http://127.0.0.1:800N/metrics, the exporter http://127.0.0.1:9800/metrics, workers
            9810-9817 (loopback, or CB_METRICS_TOKEN); Prometheus: deploy/prometheus/
  Sign in at http://127.0.0.1:8005/login as the first administrator, ${CB_ADMIN_USERNAME},
  with the password in ${CREDS} (readable only by you); or over the API:
    curl -s -X POST http://127.0.0.1:8001/api/v1/auth/token -H 'Content-Type: application/json' \\
      -d '{"username": "${CB_ADMIN_USERNAME}", "password": "<CB_ADMIN_PASSWORD from ${CREDS}>"}'

BANNER
exec honcho start -f Procfile
