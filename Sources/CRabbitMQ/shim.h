// The C side of nova-dirsvc's AMQP layer: rabbitmq-c (librabbitmq, the RabbitMQ team's C client,
// Debian's librabbitmq-dev), found by name. Swift imports amqp.h directly; the shims below exist
// only for what Swift cannot call: amqp_login is variadic (and its client properties are a C table).
#ifndef NOVA_DIRSVC_CRABBITMQ_SHIM_H
#define NOVA_DIRSVC_CRABBITMQ_SHIM_H

#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_tcp_socket.h>
#include <amqp_ssl_socket.h>
#include <sys/time.h>

// amqp_login with the PLAIN mechanism (user, password): the variadic call, made from C. The
// client properties advertise consumer_cancel_notify: without it RabbitMQ drops a consumer
// silently when its queue is deleted (the service would wait for nothing, for ever); with it, the
// broker sends basic.cancel and the service connects and declares its queue again.
// rabbitmq-c merges these capabilities with its own.
static inline amqp_rpc_reply_t crabbitmq_login_plain(amqp_connection_state_t state, const char *vhost,
                                                     int channel_max, int frame_max, int heartbeat,
                                                     const char *user, const char *password) {
    amqp_table_entry_t capabilities[1];
    capabilities[0].key = amqp_cstring_bytes("consumer_cancel_notify");
    capabilities[0].value.kind = AMQP_FIELD_KIND_BOOLEAN;
    capabilities[0].value.value.boolean = 1;
    amqp_table_entry_t entries[1];
    entries[0].key = amqp_cstring_bytes("capabilities");
    entries[0].value.kind = AMQP_FIELD_KIND_TABLE;
    entries[0].value.value.table.num_entries = 1;
    entries[0].value.value.table.entries = capabilities;
    amqp_table_t properties = { 1, entries };
    return amqp_login_with_properties(state, vhost, channel_max, frame_max, heartbeat, &properties,
                                      AMQP_SASL_METHOD_PLAIN, user, password);
}

#endif
