#!/bin/bash
# Installs what nova-dirsvc needs to build and test on Debian 12, as root (apt-get runs only
# when a package is missing). Swift itself is expected at /opt/swift or on PATH.
#   libldap-dev libsasl2-dev  the C client libraries the LDAP module links
#   389-ds-base               the directory server the tests and the demo run
#   ldap-utils                ldapsearch & co.: the tests' independent check, the benchmark's yardstick
#   libsasl2-modules          SASL EXTERNAL
#   libsasl2-modules-gssapi-mit  SASL GSSAPI (Kerberos)
#   krb5-kdc krb5-admin-server krb5-user
#                             a throwaway MIT KDC for the Kerberos tests (scripts/krb5-kdc.sh; no
#                             daemon is started by the install: the same policy-rc.d as slapd's)
#   python3-venv              the Nova hook's tests run in a virtualenv (.venv)
#   slapd                     OpenLDAP's server: the tests load schema/'s cn=config form into it
#   time                      /usr/bin/time -v: the benchmark's peak memory
#   openssl                   the throwaway directory's CA and server certificate
#   librabbitmq-dev           rabbitmq-c, the C client the AMQP module links
#   rabbitmq-server           the broker the AMQP tests run (started by the tests, never as a service)
#   zlib1g-dev libbz2-dev liblzma-dev libzstd-dev libbrotli-dev
#                             the decompressors of oslo.messaging's kombu_compression methods
set -euo pipefail
packages=(libldap-dev libsasl2-dev 389-ds-base ldap-utils libsasl2-modules libsasl2-modules-gssapi-mit
          krb5-kdc krb5-admin-server krb5-user python3-venv time slapd openssl
          librabbitmq-dev rabbitmq-server libcrypt-dev libcurl4-openssl-dev
          zlib1g-dev libbz2-dev liblzma-dev libzstd-dev libbrotli-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}" >&2
  apt-get update -qq
  # slapd: no default database, and no daemon started by its postinst (the tests start their
  # own slapd on loopback): debconf's no_configuration and a policy-rc.d for the install only.
  # The same policy-rc.d keeps rabbitmq-server's postinst from starting a system broker.
  echo "slapd slapd/no_configuration boolean true" | debconf-set-selections
  policy=/usr/sbin/policy-rc.d; made_policy=
  if [ ! -e "$policy" ]; then printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod +x "$policy"; made_policy=1; fi
  # --no-install-recommends: otherwise 389-ds-base pulls ~175 packages (matplotlib, gdal, ...)
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" > /dev/null
  [ -z "$made_policy" ] || rm -f "$policy"
fi
command -v swift > /dev/null || export PATH=/opt/swift/usr/bin:$PATH
command -v swift > /dev/null || { echo "swift not found (expected at /opt/swift/usr/bin)" >&2; exit 1; }
