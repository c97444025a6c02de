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
# DER only, for the core's chain and key policy (test_policy):
#   policy_sha1.der                 P-256 leaf signed by ca with ECDSA-SHA1
#   policy_rsa1024.der              RSA-1024 leaf, SHA-256
#   policy_rsa2048.der              server_rsa.pem as DER
#   policy_notca.der / _notca_leaf.der   CA:FALSE "issuer" and its leaf
#   policy_int0.der                 CA with pathlen:0 under ca
#   policy_int0_leaf.der            leaf under int0 (a legal path)
#   policy_int1.der / _deep_leaf.der     a CA under int0 (pathlen violated), its leaf
#   policy_ca.der                   ca.pem as DER
#
# Idempotent: a finished set (marked by OUTDIR/.done-2; the number changes
# with the contents, so an older set is rebuilt) is reused as is.
set -eu

out=${1:?usage: make_certs.sh OUTDIR}
mkdir -p "$out"
cd "$out"
[ -f .done-2 ] && exit 0

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

[int0]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid

[notca]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyCertSign
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

leaf() { # key cert subject section [issuer, default ca] [digest]
    issuer=${5:-ca}
    openssl req -new -key "$1" -subj "$3" -config ext.cnf -out "$2.csr"
    openssl x509 -req -in "$2.csr" -CA "$issuer.pem" -CAkey "$issuer.key" \
        -CAcreateserial -days "$days" -"${6:-sha256}" -extfile ext.cnf \
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

# The policy vectors (leaves share server_ec's key: nothing here is ever
# used in a handshake; issuers need their own key files, named after them).
der() { openssl x509 -in "$1" -outform DER -out "$2"; }
ec_key notca.key
ec_key int0.key
ec_key int1.key
leaf server_ec.key policy_sha1.pem "/CN=sha1 leaf" server_ec ca sha1
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 \
    -out policy_rsa1024.key 2>/dev/null
leaf policy_rsa1024.key policy_rsa1024.pem "/CN=rsa1024 leaf" server
leaf notca.key notca.pem "/CN=mpssl Unit Not A CA" notca
leaf server_ec.key notca_leaf.pem "/CN=under a non-CA" server_ec notca
leaf int0.key int0.pem "/CN=mpssl Unit pathlen0 CA" int0
leaf server_ec.key int0_leaf.pem "/CN=under pathlen0" server_ec int0
leaf int1.key int1.pem "/CN=mpssl Unit Too Deep CA" int0 int0
leaf server_ec.key deep_leaf.pem "/CN=too deep" server_ec int1
der policy_sha1.pem policy_sha1.der
der policy_rsa1024.pem policy_rsa1024.der
der server_rsa.pem policy_rsa2048.der
der notca.pem policy_notca.der
der notca_leaf.pem policy_notca_leaf.der
der int0.pem policy_int0.der
der int0_leaf.pem policy_int0_leaf.der
der int1.pem policy_int1.der
der deep_leaf.pem policy_deep_leaf.der
der ca.pem policy_ca.der
rm -f policy_sha1.pem policy_rsa1024.pem policy_rsa1024.key notca.pem notca_leaf.pem \
    int0_leaf.pem int1.pem deep_leaf.pem int0.pem notca.key int0.key int1.key

rm -f ca.srl other_ca.srl notca.srl int0.srl int1.srl
touch .done-2
