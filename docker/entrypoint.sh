#!/bin/sh
# The apps' container entrypoint (APP_BIN: sm-core or agronom, set by the image). START_MODE
# picks the process (the seed's modes):
#   api      $APP_BIN api --host 0.0.0.0 --port ${PORT:-8000}
#   worker   $APP_BIN worker
#   migrate  $APP_BIN migrate (applies the migrations and exits)
#   bot      agronom bot --host 0.0.0.0 --port ${PORT:-8081} (Pocket Agronomist's Telegram bot)
# MIGRATE_ON_START=1 applies the migrations before api or worker. Arguments given to the
# container go on to the command (`docker run IMAGE --concurrency 4`). The command is exec'd,
# so it replaces this shell and receives the container's signals itself (SIGTERM on stop).
# SM_CORE_BIN names the executable instead (tests point it at a stub).
set -eu

bin="${SM_CORE_BIN:-${APP_BIN:-sm-core}}"
mode="${START_MODE:-}"

fail() {
    echo "entrypoint: $1" >&2
    exit 64 # EX_USAGE
}

modes="api, worker or migrate"
[ "${APP_BIN:-sm-core}" = agronom ] && modes="api, worker, bot or migrate"

case "$mode" in
    api | worker | migrate) ;;
    bot) [ "${APP_BIN:-sm-core}" = agronom ] || fail "START_MODE=bot is agronom's (APP_BIN=agronom)" ;;
    "") fail "START_MODE is not set: set it to $modes" ;;
    *) fail "unknown START_MODE '$mode': expected $modes" ;;
esac

case "${MIGRATE_ON_START:-0}" in
    1 | true | yes) migrate_first=1 ;;
    0 | false | no | "") migrate_first=0 ;;
    *) fail "MIGRATE_ON_START must be 1 or 0, not '${MIGRATE_ON_START}'" ;;
esac

if [ "$migrate_first" = 1 ] && [ "$mode" != migrate ] && [ "$mode" != bot ]; then
    echo "entrypoint: MIGRATE_ON_START=1: applying the migrations before $mode" >&2
    "$bin" migrate # set -e: a failed migration stops the container here
fi

case "$mode" in
    api) exec "$bin" api --host 0.0.0.0 --port "${PORT:-8000}" "$@" ;;
    worker) exec "$bin" worker "$@" ;;
    migrate) exec "$bin" migrate "$@" ;;
    bot) exec "$bin" bot --host 0.0.0.0 --port "${PORT:-8081}" "$@" ;;
esac
