#!/bin/sh
# make_certs.sh OUTDIR - the small PKI the C connection tests use.
#
#   ca.pem / ca.key                 root CA "mpssl Unit Test CA" (P-256)
#   server_rsa.pem / .key           RSA-2048 leaf, SAN DNS:localhost, IP:127.0.0.1
#   server_ec.pem / .key            P-256 leaf, same SANs
#   client.pem / client.key         P-256 leaf, clientAuth
#   client_other.pem                the same key, issued by other_ca
#   server_rsa.pkcs1.key            the RSA key as PKCS#1 (the .key files are PKCS#8)
#   server_ec.sec1.key              the EC key as SEC1
#   other_ca.pem                    a second root that signed none of the above
#
# Idempotent: a finished set (marked by OUTDIR/.done) is reused as is.
set -eu

out=${1:?usage: make_certs.sh OUTDIR}
mkdir -p "$out"
cd "$out"
[ -f .done ] && exit 0

days=3650

# Extensions per kind of certificate, one file (the openssl CLI wants one).
cat > ext.cnf <<'EOF'
[req]
distinguished_name = dn
prompt = no

[dn]
CN = unused

[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash

[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid

[server_ec]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid

[client]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF

ec_key() {
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
        -out "$1" 2>/dev/null
}

self_signed_ca() { # key cert subject
    ec_key "$1"
    openssl req -new -x509 -key "$1" -out "$2" -days "$days" -subj "$3" \
        -config ext.cnf -extensions ca
}

leaf() { # key cert subject section [issuer, default ca]
    issuer=${5:-ca}
    openssl req -new -key "$1" -subj "$3" -config ext.cnf -out "$2.csr"
    openssl x509 -req -in "$2.csr" -CA "$issuer.pem" -CAkey "$issuer.key" \
        -CAcreateserial -days "$days" -sha256 -extfile ext.cnf \
        -extensions "$4" -out "$2" 2>/dev/null
    rm -f "$2.csr"
}

self_signed_ca ca.key ca.pem "/CN=mpssl Unit Test CA"
self_signed_ca other_ca.key other_ca.pem "/CN=mpssl Unit Other CA"

openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
    -out server_rsa.key 2>/dev/null
leaf server_rsa.key server_rsa.pem "/CN=localhost" server

ec_key server_ec.key
leaf server_ec.key server_ec.pem "/CN=localhost" server_ec

ec_key client.key
leaf client.key client.pem "/CN=mpssl test client" client
leaf client.key client_other.pem "/CN=mpssl test client" client other_ca

# The same keys in their traditional encodings (PKCS#1, SEC1).
openssl pkey -in server_rsa.key -traditional -out server_rsa.pkcs1.key
openssl pkey -in server_ec.key -traditional -out server_ec.sec1.key

rm -f ca.srl other_ca.srl
touch .done
