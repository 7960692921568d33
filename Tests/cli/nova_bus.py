"""Publishes Nova notifications exactly as Nova does: oslo.messaging's Notifier (driver
messagingv2) on the real rabbit transport, with Nova's own RequestContext (the `nova` package
from PyPI), so the `_context_*` keys are the ones Nova sends (a plain dict context would be
dropped by oslo.messaging). The payloads are Nova's own samples (Tests/Fixtures/nova).

Imported by the bus tests; also run as a program, so that several publishers can run as
separate processes at once:

    python nova_bus.py URL FIRST COUNT [--delete-half] [--exchange NAME] [--durable]
        # create COUNT instances (then delete every other one)
"""
import copy
import json
import sys
import uuid as uuidlib
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent.parent / "Fixtures" / "nova"

_configured = False


def _configure():
    global _configured
    if not _configured:
        import nova.conf
        nova.conf.CONF([], project="nova", default_config_files=[])
        _configured = True


def context(project_name="demo-project", user_name="demo-user", remote_address="192.0.2.10"):
    """Nova's RequestContext, as nova-api makes one for a request."""
    _configure()
    import nova.context
    return nova.context.RequestContext(user_id="e5a1f0c3b38a4c0c9f2f7c9d3b1a2e4f",
                                       project_id="6f70656e737461636b20342065766572",
                                       user_name=user_name, project_name=project_name,
                                       remote_address=remote_address)


class Publisher:
    """One oslo.messaging Notifier on `url` (rabbit://...), publishing to Nova's exchange."""

    def __init__(self, url, topics=("versioned_notifications",), exchange="nova",
                 publisher_id="nova-compute:compute", durable=False):
        _configure()
        import oslo_messaging
        from oslo_config import cfg
        conf = cfg.ConfigOpts()
        conf([], project="nova-dirsvc-test", default_config_files=[])
        oslo_messaging.set_transport_defaults(control_exchange=exchange)
        self.transport = oslo_messaging.get_notification_transport(conf, url=url)
        # nova.conf [oslo_messaging_rabbit] amqp_durable_queues: the exchange declared durable
        conf.set_override("amqp_durable_queues", durable, group="oslo_messaging_rabbit")
        self.notifier = oslo_messaging.Notifier(self.transport, publisher_id=publisher_id,
                                                driver="messagingv2", topics=list(topics))

    def send(self, event_type, payload, ctxt=None, priority="info"):
        getattr(self.notifier, priority)(ctxt if ctxt is not None else context(), event_type, payload)

    def send_sample(self, name, instance_uuid=None, ctxt=None, mutate=None):
        """Publishes a sample's payload under its event type, for another instance if asked."""
        sample = json.loads((FIXTURES / name).read_text())
        payload = copy.deepcopy(sample["payload"])
        data = payload.get("nova_object.data", payload)
        if instance_uuid:
            data["uuid" if "nova_object.data" in payload else "instance_id"] = instance_uuid
        if mutate:
            mutate(data)
        self.send(sample["event_type"], payload, ctxt)
        return sample

    def close(self):
        self.transport.cleanup()


def instance_uuids(first, count):
    """Deterministic UUIDs, so that separate publisher processes never collide."""
    return [str(uuidlib.UUID(int=(0xA1 << 120) + first + i)) for i in range(count)]


def main(argv):
    url, first, count = argv[0], int(argv[1]), int(argv[2])
    delete_half = "--delete-half" in argv
    exchange = argv[argv.index("--exchange") + 1] if "--exchange" in argv else "nova"
    publisher = Publisher(url, exchange=exchange, durable="--durable" in argv)
    ctxt = context()
    uuids = instance_uuids(first, count)
    for uuid in uuids:
        publisher.send_sample("instance-create-end.json", uuid, ctxt)
    if delete_half:
        for uuid in uuids[::2]:
            publisher.send_sample("instance-delete-end.json", uuid, ctxt)
    publisher.close()


if __name__ == "__main__":
    main(sys.argv[1:])
