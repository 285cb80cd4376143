#!/usr/bin/env bash
# gen-certs.sh OUTDIR — test certificates for platform-emu (GnuTLS certtool, package gnutls-bin).
#
#   ca.pem, ca-key.pem                 the test CA the terminal is provisioned to trust
#   server.pem, server-key.pem         platform.evt.test / localhost, signed by that CA
#   rogue-ca.pem, rogue-ca-key.pem     an unrelated CA
#   rogue-server.pem, rogue-server-key.pem
#                                      same names, signed by the rogue CA: the "untrusted
#                                      certificate" case must fail although the names match
#
# ECDSA P-256 keys, about one year of validity. Idempotent: a complete set is left alone, a
# partial set is regenerated. Keys are test material only and are never committed.
set -euo pipefail

if [ "$#" -ne 1 ]; then
    echo "usage: $0 OUTDIR" >&2
    exit 2
fi
OUT="$1"
command -v certtool >/dev/null 2>&1 || { echo "$0: certtool missing (apt-get install gnutls-bin)" >&2; exit 1; }
mkdir -p "$OUT"

FILES=(ca.pem ca-key.pem server.pem server-key.pem rogue-ca.pem rogue-ca-key.pem rogue-server.pem rogue-server-key.pem)
complete=1
for f in "${FILES[@]}"; do
    [ -s "$OUT/$f" ] || complete=0
done
if [ "$complete" -eq 1 ]; then
    exit 0
fi

# Build in a private directory and move into place at the end, so a concurrent or interrupted
# run never leaves a CA that does not match its server certificate.
WORK="$(mktemp -d "$OUT/.gen.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

key() { certtool --generate-privkey --key-type=ecdsa --curve=secp256r1 --outfile "$1" 2>/dev/null; }

make_ca() { # name cn
    cat >"$WORK/$1.tmpl" <<TMPL
cn = "$2"
organization = "EVT test"
serial = $(od -An -N4 -tu4 /dev/urandom | tr -d ' ')
expiration_days = 365
ca
cert_signing_key
crl_signing_key
TMPL
    key "$WORK/$1-key.pem"
    certtool --generate-self-signed --load-privkey "$WORK/$1-key.pem" \
        --template "$WORK/$1.tmpl" --outfile "$WORK/$1.pem" 2>/dev/null
}

make_server() { # name ca
    cat >"$WORK/$1.tmpl" <<TMPL
cn = "platform.evt.test"
organization = "EVT test platform"
serial = $(od -An -N4 -tu4 /dev/urandom | tr -d ' ')
expiration_days = 365
dns_name = "localhost"
dns_name = "platform.evt.test"
tls_www_server
signing_key
encryption_key
TMPL
    key "$WORK/$1-key.pem"
    certtool --generate-certificate --load-privkey "$WORK/$1-key.pem" \
        --load-ca-certificate "$WORK/$2.pem" --load-ca-privkey "$WORK/$2-key.pem" \
        --template "$WORK/$1.tmpl" --outfile "$WORK/$1.pem" 2>/dev/null
}

make_ca ca "EVT test medical-security platform CA"
make_server server ca
make_ca rogue-ca "Rogue CA (must not be trusted)"
make_server rogue-server rogue-ca

chmod 600 "$WORK"/*-key.pem
for f in "${FILES[@]}"; do
    mv -f "$WORK/$f" "$OUT/$f"
done
echo "gen-certs: wrote ${FILES[*]} to $OUT"
