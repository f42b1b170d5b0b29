#!/bin/sh
# Starts one Redis Sentinel of the group (quorum 2 of 3).
#
# A Sentinel rewrites its configuration file with what it learns (the current
# primary, the replicas, the other Sentinels). The file lives on the pod's volume, so
# a Sentinel that restarts, even with all the others, still knows which server it
# last saw promoted. Only on the first start is it written here: monitoring the
# primary that another Sentinel names, or redis-0 when none answers yet.
set -eu

config=/data/sentinel.conf
self="$(hostname).redis-sentinel"

if [ ! -s "$config" ]; then
    primary=""
    for sentinel in $(echo "$REDIS_SENTINELS" | tr ',' ' '); do
        answer="$(redis-cli -h "${sentinel%:*}" -p "${sentinel##*:}" --raw \
            SENTINEL GET-MASTER-ADDR-BY-NAME "$REDIS_SENTINEL_MASTER" 2>/dev/null \
            | head -n 1 || true)"
        if [ -n "$answer" ]; then
            primary="$answer"
            break
        fi
    done
    primary="${primary:-redis-0.redis}"
    # The monitor line must resolve when the file is read; a primary's name exists
    # as soon as its pod has an address (the Service publishes pods not yet ready).
    until getent hosts "$primary" > /dev/null; do
        echo "waiting for $primary to resolve" >&2
        sleep 2
    done
    cat > "$config.new" <<CONF
port 26379
protected-mode no
dir /data
sentinel resolve-hostnames yes
sentinel announce-hostnames yes
sentinel announce-ip $self
sentinel monitor $REDIS_SENTINEL_MASTER $primary 6379 2
sentinel down-after-milliseconds $REDIS_SENTINEL_MASTER $DOWN_AFTER_MILLISECONDS
sentinel failover-timeout $REDIS_SENTINEL_MASTER $FAILOVER_TIMEOUT_MILLISECONDS
sentinel parallel-syncs $REDIS_SENTINEL_MASTER 1
CONF
    mv "$config.new" "$config"
fi

exec redis-server "$config" --sentinel
