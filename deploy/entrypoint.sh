#!/bin/sh
# The container's entry point: one image, four roles, or any other command.
#   web      the ASGI server: SDK paths, admin and REST API on $PORT (8000)
#   worker   a Celery worker; /metrics on WORKER_METRICS_BIND if set
#   beat     the Celery scheduler: run exactly one
#   migrate  apply the database migrations, then exit
set -eu
here="$(dirname "$0")"

if [ -n "${PROMETHEUS_MULTIPROC_DIR:-}" ]; then
    # The metrics of this pod's processes; a restarted container starts from an empty directory.
    mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
    find "$PROMETHEUS_MULTIPROC_DIR" -mindepth 1 -delete
fi

role="${1:-web}"
[ "$#" -gt 0 ] && shift
case "$role" in
    web)
        exec uvicorn controlplane.asgi:application \
            --host "${HOST:-0.0.0.0}" --port "${PORT:-8000}" --workers "${WEB_WORKERS:-2}" \
            --loop uvloop --http controlplane.edge.protocol:TimedHttpToolsProtocol \
            --log-config "$here/logging.json" --no-access-log \
            --timeout-graceful-shutdown "${WEB_GRACEFUL_SHUTDOWN_S:-20}" "$@"
        ;;
    worker)
        exec celery -A controlplane --quiet worker --concurrency "${WORKER_CONCURRENCY:-2}" \
            --without-gossip --without-mingle "$@"
        ;;
    beat)
        exec celery -A controlplane --quiet beat --schedule "${BEAT_SCHEDULE:-$(mktemp -d)/celerybeat-schedule}" "$@"
        ;;
    migrate)
        exec python manage.py migrate --no-input "$@"
        ;;
    *)
        exec "$role" "$@"
        ;;
esac
