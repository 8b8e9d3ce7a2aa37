#!/bin/sh
# Initialise Vault once, unseal every replica, and hand each unseal key share to one admin, encrypted with that
# admin's public key (ADMINS_DIR/NAME.asc; one share per admin, THRESHOLD of them unseal).
#
# The clear shares and the root token live only in this shell's variables. They reach curl and gpg on standard
# input (never as arguments, which other processes can read), are never written to a file and never printed.
# What leaves the pod is encrypted: the ConfigMap vault-unseal-keys (NAME.asc -> armoured message) and, as a
# fallback, this Job's log. The root token is revoked at the end: the admins' quorum makes a new one when needed
# (vault operator generate-root).
set -eu
umask 077

: "${VAULT_ADDRS:?space-separated URLs of the Vault replicas}"
ADMINS_DIR=${ADMINS_DIR:-/vault-admins}
SETTINGS_DIR=${SETTINGS_DIR:-/vault-init-settings}
SA_DIR=${SA_DIR:-/var/run/secrets/kubernetes.io/serviceaccount}
KUBE_API=${KUBE_API:-https://kubernetes.default.svc}
WORK_DIR=${WORK_DIR:-/work}
RESULT_CONFIGMAP=${RESULT_CONFIGMAP:-vault-unseal-keys}
WAIT_TRIES=${WAIT_TRIES:-60}
WAIT_SECONDS=${WAIT_SECONDS:-5}
export GNUPGHOME="${GNUPGHOME:-/gnupg}"

log() { printf 'vault-init: %s\n' "$*" >&2; }
fail() {
    log "error: $*"
    exit 1
}

vault_curl() { # URL [curl arguments...]
    url=$1
    shift
    if [ -n "${VAULT_CACERT:-}" ]; then
        curl --silent --show-error --fail --cacert "$VAULT_CACERT" "$@" "$url"
    else
        curl --silent --show-error --fail "$@" "$url"
    fi
}

wait_for() { # URL: until the replica answers
    tries=0
    until vault_curl "$1/v1/sys/seal-status" >/dev/null 2>&1; do
        tries=$((tries + 1))
        [ "$tries" -lt "$WAIT_TRIES" ] || fail "$1 does not answer"
        sleep "$WAIT_SECONDS"
    done
}

threshold=$(cat "$SETTINGS_DIR/threshold")
admins=$(find "$ADMINS_DIR" -maxdepth 1 -name '*.asc' | sed 's|.*/||' | LC_ALL=C sort)
count=$(printf '%s\n' "$admins" | grep -c . || true)
[ "$count" -ge 1 ] || fail "no admin public keys (NAME.asc) in $ADMINS_DIR"
if [ "$threshold" -lt 1 ] || [ "$threshold" -gt "$count" ]; then
    fail "threshold $threshold must be between 1 and the number of admins ($count)"
fi

first=${VAULT_ADDRS%% *}
wait_for "$first"
if [ "$(vault_curl "$first/v1/sys/init" | jq -r .initialized)" = true ]; then
    log "Vault is already initialised: nothing to do. Admins unseal sealed replicas with their shares."
    exit 0
fi

# Every admin key must be usable before Vault is initialised: a share encrypted for nobody is a lost share.
mkdir -p "$GNUPGHOME"
for admin in $admins; do
    printf 'probe' | gpg --batch --quiet --trust-model always --encrypt --recipient-file "$ADMINS_DIR/$admin" \
        >/dev/null || fail "$admin is not a usable public encryption key"
done

request=$(jq -n --argjson n "$count" --argjson t "$threshold" '{secret_shares: $n, secret_threshold: $t}')
init=$(printf '%s' "$request" | vault_curl "$first/v1/sys/init" --request PUT --data-binary @-)
log "initialised: $count key shares, $threshold needed to unseal"

data='{}'
index=0
for admin in $admins; do
    encrypted=$(printf '%s' "$init" | jq -j ".keys_base64[$index]" |
        gpg --batch --quiet --trust-model always --armor --encrypt --recipient-file "$ADMINS_DIR/$admin")
    data=$(printf '%s' "$data" | jq --arg key "$admin" --arg value "$encrypted" '. + {($key): $value}')
    printf 'vault-init: key share for %s, encrypted for that admin (gpg --decrypt):\n%s\n' "${admin%.asc}" "$encrypted"
    index=$((index + 1))
done

namespace=$(cat "$SA_DIR/namespace")
jq -n --arg name "$RESULT_CONFIGMAP" --argjson data "$data" \
    '{apiVersion: "v1", kind: "ConfigMap", data: $data,
      metadata: {name: $name, labels: {"app.kubernetes.io/name": "vault", "app.kubernetes.io/part-of": "buildplat"}}}' \
    >"$WORK_DIR/configmap.json"
stored=false
for _ in 1 2 3 4 5; do
    if printf 'Authorization: Bearer %s\n' "$(cat "$SA_DIR/token")" |
        curl --silent --show-error --fail --cacert "$SA_DIR/ca.crt" -H @- -H 'Content-Type: application/json' \
            --data-binary @"$WORK_DIR/configmap.json" "$KUBE_API/api/v1/namespaces/$namespace/configmaps" >/dev/null; then
        stored=true
        break
    fi
    sleep "$WAIT_SECONDS"
done
if [ "$stored" = true ]; then
    log "encrypted key shares stored in ConfigMap $namespace/$RESULT_CONFIGMAP"
else
    log "could not store ConfigMap $RESULT_CONFIGMAP: the encrypted key shares are in this log, above"
fi

sealed_left=0
for address in $VAULT_ADDRS; do
    wait_for "$address"
    index=0
    while [ "$index" -lt "$threshold" ]; do
        printf '%s' "$init" | jq -c "{key: .keys_base64[$index]}" |
            vault_curl "$address/v1/sys/unseal" --request PUT --data-binary @- >/dev/null
        index=$((index + 1))
    done
    if [ "$(vault_curl "$address/v1/sys/seal-status" | jq -r .sealed)" = false ]; then
        log "$address unsealed"
    else
        log "$address is still sealed"
        sealed_left=$((sealed_left + 1))
    fi
done

printf 'X-Vault-Token: %s\n' "$(printf '%s' "$init" | jq -r .root_token)" |
    vault_curl "$first/v1/auth/token/revoke-self" --request POST -H @- >/dev/null
log "root token revoked"
init=''

[ "$stored" = true ] || fail "encrypted key shares were not stored (they are in this log)"
[ "$sealed_left" -eq 0 ] || fail "$sealed_left replica(s) still sealed"
log "done"
