#!/bin/sh
# Starts one Redis server of the Sentinel group: the primary, or a replica of it.
#
# Which server is the primary is the Sentinels' word. After a failover it is the
# replica they promoted, and a pod that comes back must follow it: taking over with
# its own, older data would lose what was written since. Only when no Sentinel names
# a primary (the group's very first start) does redis-0 begin as the primary.
#
# Each server announces its stable DNS name (redis-N.redis), not its pod IP, so what
# the Sentinels tell clients and replicas survives a pod's move to another node.
set -eu

self="$(hostname).redis"
primary=""
deadline=$(( $(date +%s) + SENTINEL_WAIT_SECONDS ))
while [ -z "$primary" ] && [ "$(date +%s)" -lt "$deadline" ]; do
    for sentinel in $(echo "$REDIS_SENTINELS" | tr ',' ' '); do
        answer="$(redis-cli -h "${sentinel%:*}" -p "${sentinel##*:}" --raw \
            SENTINEL GET-MASTER-ADDR-BY-NAME "$REDIS_SENTINEL_MASTER" 2>/dev/null \
            | head -n 1 || true)"
        if [ -n "$answer" ]; then
            primary="$answer"
            break
        fi
    done
    [ -n "$primary" ] || sleep 2
done
if [ -z "$primary" ]; then
    echo "no Sentinel named a primary within ${SENTINEL_WAIT_SECONDS} s; first start" >&2
    primary="redis-0.redis"
fi

set -- redis-server \
    --protected-mode no \
    --appendonly yes \
    --appendfsync everysec \
    --replica-announce-ip "$self"
if [ "$primary" != "$self" ]; then
    echo "following the primary $primary" >&2
    set -- "$@" --replicaof "$primary" 6379
else
    echo "starting as the primary" >&2
fi
exec "$@"
