// libcrypt (libxcrypt, Debian's libcrypt-dev): crypt_rn(3), to check the hashed passwords of
// the HTTP side's basic_auth_file ($6$ SHA-512-crypt, $y$ yescrypt, $2b$ bcrypt: whatever the
// system's crypt supports). Swift imports it directly; nothing else is needed here.
#ifndef NOVA_DIRSVC_CCRYPT_SHIM_H
#define NOVA_DIRSVC_CCRYPT_SHIM_H
#include <crypt.h>
#endif
