// The C side of nova-dirsvc's AMQP layer: rabbitmq-c (librabbitmq, the RabbitMQ team's C client,
// Debian's librabbitmq-dev), found by name. Swift imports amqp.h directly; the shims below exist
// only for what Swift cannot call: amqp_login is variadic.
#ifndef NOVA_DIRSVC_CRABBITMQ_SHIM_H
#define NOVA_DIRSVC_CRABBITMQ_SHIM_H

#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_tcp_socket.h>
#include <amqp_ssl_socket.h>
#include <sys/time.h>

// amqp_login with the PLAIN mechanism (user, password): the variadic call, made from C.
static inline amqp_rpc_reply_t crabbitmq_login_plain(amqp_connection_state_t state, const char *vhost,
                                                     int channel_max, int frame_max, int heartbeat,
                                                     const char *user, const char *password) {
    return amqp_login(state, vhost, channel_max, frame_max, heartbeat, AMQP_SASL_METHOD_PLAIN, user, password);
}

#endif
