"""What an operator writes instead of serve: an oslo.messaging notification listener with a pool
of its own (its own queue) and the threading executor, as novajoin's listener is written, adding
and deleting with python-ldap over one bound connection. The bus benchmark's yardstick.

    python peer_listener.py URL EXCHANGE BASE_DN QUORUM(0|1) COUNT DONE_FILE [--declare-only]

Writes the entry serve writes (the same object classes and attributes); when COUNT
notifications were handled, writes the seconds from listener.start() to then into DONE_FILE."""
import os
import sys
import threading
import time

import ldap
import oslo_messaging
from oslo_config import cfg

url, exchange, base, quorum, count, done_file = sys.argv[1:7]
count = int(count)
conf = cfg.ConfigOpts()
conf([], project="peer", default_config_files=[])
oslo_messaging.set_transport_defaults(control_exchange=exchange)
transport = oslo_messaging.get_notification_transport(conf, url=url)
conf.set_override("rabbit_quorum_queue", quorum == "1", group="oslo_messaging_rabbit")
conf.set_override("amqp_durable_queues", True, group="oslo_messaging_rabbit")  # as the publisher

directory = ldap.initialize(os.environ["NOVA_DIRSVC_TEST_URI"])
directory.simple_bind_s(os.environ["NOVA_DIRSVC_TEST_SERVICE_DN"],
                        open(os.environ["NOVA_DIRSVC_TEST_SERVICE_PASSWORD_FILE"]).read().strip())
handled = 0
lock = threading.Lock()
started = None


def entry(data, ctxt):
    ip = data["ip_addresses"][0]["nova_object.data"] if data.get("ip_addresses") else None
    attributes = {
        "objectClass": [b"top", b"person", b"organizationalPerson", b"inetOrgPerson", b"ieee802Device", b"novaInstance"],
        "cn": [data["uuid"].encode()], "sn": [data["uuid"].encode()], "novaInstanceUUID": [data["uuid"].encode()],
        "novaImageUUID": [data["image_uuid"].encode()], "novaHostname": [data["host_name"].encode()],
        "novaProjectID": [data["tenant_id"].encode()], "novaUserID": [data["user_id"].encode()],
        "novaProjectName": [ctxt.get("project_name", "").encode()], "novaUserName": [ctxt.get("user_name", "").encode()],
    }
    if ip:
        attributes["macAddress"] = [ip["mac"].encode()]
        attributes["novaIPAddress"] = [ip["address"].encode()]
    return list(attributes.items())


class Endpoint:
    def info(self, ctxt, publisher_id, event_type, payload, metadata):
        global handled
        data = payload["nova_object.data"]
        dn = f"cn={data['uuid']},{base}"
        if event_type == "instance.create.end":
            try:
                directory.add_s(dn, entry(data, ctxt))
            except ldap.ALREADY_EXISTS:
                pass
        elif event_type == "instance.delete.end":
            try:
                directory.delete_s(dn)
            except ldap.NO_SUCH_OBJECT:
                pass
        with lock:
            handled += 1
            if handled == count:
                with open(done_file, "w") as f:
                    f.write(f"{time.perf_counter() - started}\n")
        return oslo_messaging.NotificationResult.HANDLED


listener = oslo_messaging.get_notification_listener(
    transport, [oslo_messaging.Target(topic="versioned_notifications")], [Endpoint()],
    executor="threading", pool="nova-dirsvc-peer-" + exchange)
started = time.perf_counter()
listener.start()
if "--declare-only" in sys.argv:
    time.sleep(2)  # its queue declared and bound
else:
    while not os.path.exists(done_file):
        time.sleep(0.05)
listener.stop()
listener.wait()
