"""Drives Nova's OWN notification code (nova 34.0.0) against a real broker: the project's copy of
../shared/tools/nova-emit.py (its emitters and Nova's start-up), with a scenario runner below.

Nothing here builds a payload by hand: the payloads come from nova.compute.utils.* /
nova.notifications.objects.*, the envelope from oslo.messaging's messagingv2 driver, the
context from nova.context.RequestContext. Nova's start-up path is nova.config.parse_args()
(which calls rpc.set_defaults(control_exchange='nova') and nova.rpc.init(CONF)) on a real
nova.conf written per scenario.
"""
# as nova/cmd/compute.py does first thing (nova 34: native threading by default); the variable
# keeps nova.tests.unit (fake_instance) from switching to eventlet
import os
import sys
os.environ.setdefault("OS_NOVA_DISABLE_EVENTLET_PATCHING", "1")
from nova import monkey_patch; monkey_patch.patch(backend="threading")  # noqa
import datetime
import json
import os
import sys
import re
import base64
import subprocess
import time
import uuid as uuidlib

WORK = os.environ.get("NOVA_EMIT_WORK", "work")


def write_nova_conf(path, transport_url, fmt="versioned", rabbit=None, default=None,
                    notifications=None, extra_sections=None):
    """A nova.conf as an operator writes it."""
    lines = ["[DEFAULT]", f"transport_url = {transport_url}", "host = compute-01.example.com"]
    for k, v in (default or {}).items():
        lines.append(f"{k} = {v}")
    lines += ["", "[notifications]", f"notification_format = {fmt}"]
    # what Ceilometer's install guide asks for: instance.update on every state change
    notifications = {"notify_on_state_change": "vm_and_task_state", **(notifications or {})}
    for k, v in notifications.items():
        lines.append(f"{k} = {v}")
    lines += ["", "[oslo_messaging_notifications]", "driver = messagingv2", "",
              "[oslo_messaging_rabbit]"]
    for k, v in (rabbit or {}).items():
        lines.append(f"{k} = {v}")
    lines += ["", "[glance]", "api_servers = http://glance.example.com:9292"]
    for section, kv in (extra_sections or {}).items():
        lines += ["", f"[{section}]"] + [f"{k} = {v}" for k, v in kv.items()]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def start_nova(conf_path):
    """nova.config.parse_args as every nova service does (rpc init included, no DB)."""
    import nova.config
    import nova.objects
    nova.objects.register_all()
    nova.config.parse_args(["nova-compute", "--config-file", conf_path], configure_db=False, init_rpc=True)
    import nova.conf
    return nova.conf.CONF


def context(project_name, user_name, remote_address, project_id, user_id):
    import nova.context
    return nova.context.RequestContext(user_id=user_id, project_id=project_id,
                                       user_name=user_name, project_name=project_name,
                                       remote_address=remote_address,
                                       auth_token="gAAAAAB-fake-token",
                                       roles=["member", "reader"])


def vif(port_id, mac, label, v4, v6, floating=None, devname=None):
    """A neutron port as nova.network.model has it (the info_cache's network_info)."""
    from nova.network import model
    fip = [model.IP(address=floating, type="floating", version=4)] if floating else []
    v4ip = model.FixedIP(address=v4, floating_ips=fip, version=4)
    v6ip = model.FixedIP(address=v6, version=6)
    s4 = model.Subnet(cidr=re.sub(r"\.\d+$", ".0/24", v4), ips=[v4ip], version=4,
                      gateway=model.IP(address=re.sub(r"\.\d+$", ".1", v4), type="gateway"),
                      dns=[model.IP(address="192.0.2.53", type="dns")])
    s6 = model.Subnet(cidr=v6.rsplit(":", 1)[0] + ":/64", ips=[v6ip], version=6,
                      gateway=model.IP(address=v6.rsplit(":", 1)[0] + ":1", type="gateway", version=6))
    net = model.Network(id=str(uuidlib.uuid5(uuidlib.NAMESPACE_DNS, label)), bridge="br-int",
                        label=label, subnets=[s4, s6], meta={"mtu": 1450, "tunneled": True})
    return model.VIF(id=port_id, address=mac, network=net, type="ovs",
                     details={"port_filter": True, "connectivity": "l2", "bridge_name": "br-int",
                              "datapath_type": "system", "bound_drivers": {"0": "ovn"}},
                     devname=devname or ("tap" + port_id[:11]), ovs_interfaceid=port_id,
                     vnic_type="normal", active=True, preserve_on_delete=False,
                     meta={})


def instance(ctxt, uuid, image_ref, display_name, vifs, az="az-nord"):
    """A nova.objects.Instance as the compute manager holds it at create.end."""
    from nova import objects, utils
    from nova.network import model
    from nova.tests.unit import fake_instance
    now = datetime.datetime(2025, 3, 1, 12, 0, 0, tzinfo=datetime.timezone.utc)
    flavor = objects.Flavor(id=7, name="m1.small", memory_mb=2048, vcpus=1, root_gb=20, ephemeral_gb=0,
                            flavorid="2", swap=0, rxtx_factor=1.0, vcpu_weight=0, disabled=False,
                            is_public=True, extra_specs={"hw:cpu_policy": "shared"}, projects=[],
                            description=None)
    inst = fake_instance.fake_instance_obj(
        ctxt, uuid=uuid, image_ref=image_ref, display_name=display_name,
        hostname=utils.sanitize_hostname(display_name),
        project_id=ctxt.project_id, user_id=ctxt.user_id, flavor=flavor,
        availability_zone=az, host="compute-01.example.com", node="compute-01.example.com",
        launched_at=now, created_at=now - datetime.timedelta(seconds=40), updated_at=now,
        vm_state="active", power_state=1, task_state=None, key_name="ops-key",
        reservation_id="r-" + uuid[:8], os_type="linux", architecture="x86_64",
        metadata={"role": "db", "owner": "équipe"}, locked=False, auto_disk_config=False,
        display_description="données de test", launch_index=0, root_device_name="/dev/vda",
        system_metadata={"image_base_image_ref": image_ref, "image_min_disk": "20",
                         "image_disk_format": "qcow2", "image_container_format": "bare",
                         "boot_roles": "member,reader", "owner_user_name": ctxt.user_name,
                         "owner_project_name": ctxt.project_name},
        user_data=base64.b64encode(b"#cloud-config\nhostname: x\n").decode(),
        expected_attrs=["metadata", "system_metadata"])
    inst.info_cache = objects.InstanceInfoCache(instance_uuid=uuid, network_info=model.NetworkInfo(vifs))
    inst.trusted_certs = None
    inst.obj_reset_changes(recursive=True)
    return inst


def set_vifs(inst, vifs):
    from nova.network import model
    inst.info_cache.network_info = model.NetworkInfo(vifs)


def expected(inst, ctxt):
    """What the entry should hold, from the Instance itself."""
    nwinfo = inst.get_network_info()
    macs = sorted({v["address"] for v in nwinfo})
    fixed = sorted({ip["address"] for v in nwinfo for ip in v.fixed_ips()})
    floating = sorted({f["address"] for v in nwinfo for ip in v.fixed_ips() for f in ip.get("floating_ips", [])})
    return {"uuid": inst.uuid, "image": inst.image_ref, "hostname": inst.hostname, "macs": macs,
            "fixed_ips": fixed, "floating_ips": floating, "project_name": ctxt.project_name,
            "user_name": ctxt.user_name, "remote_address": ctxt.remote_address,
            "project_id": inst.project_id, "user_id": inst.user_id}


# ---- emitters: exactly the calls nova/compute/manager.py makes -------------------------------

def legacy_notifier(host="compute-01.example.com"):
    from nova import rpc
    return rpc.get_notifier("compute", host)


def emit_create_end(ctxt, inst, host="compute-01.example.com"):
    """ComputeManager._build_and_run_instance, on success (manager.py ~2859)."""
    from nova.compute import utils as cu
    from nova.objects import fields
    from nova import objects
    # the manager's self.notifier is rpc.get_notifier('compute', self.host) (legacy)
    cu.notify_about_instance_usage(legacy_notifier(host), ctxt, inst, "create.end",
                                   extra_usage_info={"message": "Success"},
                                   network_info=inst.get_network_info())
    cu.notify_about_instance_create(ctxt, inst, host, phase=fields.NotificationPhase.END,
                                    bdms=objects.BlockDeviceMappingList(objects=[]))


def emit_delete_end(ctxt, inst, host="compute-01.example.com"):
    """ComputeManager._delete_instance, at the end (manager.py ~3437)."""
    from nova.compute import utils as cu
    from nova.objects import fields
    from nova import objects
    inst.vm_state = "deleted"
    inst.task_state = None
    inst.power_state = 0
    inst.terminated_at = datetime.datetime(2025, 3, 1, 13, 0, 0, tzinfo=datetime.timezone.utc)
    cu.notify_about_instance_usage(legacy_notifier(host), ctxt, inst, "delete.end")
    cu.notify_about_instance_action(ctxt, inst, host, action=fields.NotificationAction.DELETE,
                                    phase=fields.NotificationPhase.END,
                                    bdms=objects.BlockDeviceMappingList(objects=[]))


def emit_local_delete(ctxt, inst):
    """nova-api's local delete (never scheduled / compute down): compute_utils.notify_about_instance_delete
    as nova/compute/api.py _local_delete uses it (source api)."""
    from nova.compute import utils as cu
    from nova.objects import fields
    import nova.conf
    with cu.notify_about_instance_delete(legacy_notifier("api-01"), ctxt, inst,
                                         source=fields.NotificationSource.API):
        pass


def emit_interface(ctxt, inst, action, host="compute-01.example.com"):
    """ComputeManager._attach_interface / _detach_interface: start, then end after the info cache
    changed (manager.py ~8591/8697, ~8750/8775)."""
    from nova.compute import utils as cu
    from nova.objects import fields
    act = {"attach": fields.NotificationAction.INTERFACE_ATTACH,
           "detach": fields.NotificationAction.INTERFACE_DETACH}[action]
    cu.notify_about_instance_action(ctxt, inst, host, action=act, phase=fields.NotificationPhase.END)


def emit_interface_start(ctxt, inst, action, host="compute-01.example.com"):
    from nova.compute import utils as cu
    from nova.objects import fields
    act = {"attach": fields.NotificationAction.INTERFACE_ATTACH,
           "detach": fields.NotificationAction.INTERFACE_DETACH}[action]
    cu.notify_about_instance_action(ctxt, inst, host, action=act, phase=fields.NotificationPhase.START)


def emit_rebuild_end(ctxt, inst, host="compute-01.example.com"):
    """ComputeManager._do_rebuild_instance_with_claim ... end (manager.py ~4301)."""
    from nova.compute import utils as cu
    from nova.objects import fields
    from nova import objects
    cu.notify_about_instance_usage(legacy_notifier(host), ctxt, inst, "rebuild.end",
                                   network_info=inst.get_network_info(), extra_usage_info={})
    cu.notify_about_instance_rebuild(ctxt, inst, host, phase=fields.NotificationPhase.END,
                                     bdms=objects.BlockDeviceMappingList(objects=[]))


def emit_usage_exists(ctxt, inst, host="compute-01.example.com"):
    """The audit 'exists' (legacy compute.instance.exists + versioned instance.exists)."""
    from nova.compute import utils as cu
    cu.notify_usage_exists(legacy_notifier(host), ctxt, inst, host, current_period=True)


def emit_instance_update(ctxt, inst, old_vm_state="building", old_task_state="spawning"):
    """nova.notifications.base.send_update_with_states, as instance.save() triggers it."""
    from nova.notifications import base as nb
    nb.send_update_with_states(ctxt, inst, old_vm_state, inst.vm_state, old_task_state,
                               inst.task_state, service="compute", host="compute-01.example.com",
                               verify_states=False)


# ---- a Nova process, as the bus tests run it ----------------------------------------------------

def scenario(conf_path, first, count, ready, go, delete_every=0, rpc=True):
    """Nova started from conf_path as nova-compute starts (rpc.init: Nova's own transport, its
    exchange and its options), an RPC server on topic `compute` as nova-compute has one (it
    declares Nova's exchange and its RPC queues, quorum ones under rabbit_quorum_queue); then,
    once `go` exists, create.end for `count` instances (and delete.end for every
    `delete_every`-th). Exit 0 only when no publish and no declare failed: oslo.messaging logs
    a notification it could not send instead of raising, so its error log is the judge."""
    import logging
    errors = []

    class Collect(logging.Handler):
        def emit(self, record):
            if record.levelno >= logging.ERROR:
                errors.append(record.getMessage())

    logging.getLogger().addHandler(Collect())
    logging.getLogger().setLevel(logging.WARNING)
    CONF = start_nova(conf_path)
    server = None
    if rpc:
        import oslo_messaging as messaging
        from nova import rpc as nova_rpc
        server = nova_rpc.get_server(messaging.Target(topic="compute", server=CONF.host), endpoints=[])
        server.start()
    open(ready, "w").close()
    deadline = time.monotonic() + 120
    while not os.path.exists(go):
        if time.monotonic() > deadline:
            raise SystemExit("no go within 120 s")
        time.sleep(0.05)
    ctxt = context("projet-été", "utilisateur", None, "6f70656e737461636b20342065766572", "e5a1f0c3b38a4c0c9f2f7c9d3b1a2e4f")
    for i in range(count):
        uuid = str(uuidlib.UUID(int=(0xA1 << 120) + first + i))
        mac = "fa:16:3e:%02x:%02x:%02x" % ((i >> 16) & 255, (i >> 8) & 255, i & 255)
        port = str(uuidlib.UUID(int=(0xB2 << 120) + first + i))
        inst = instance(ctxt, uuid, "035c2bc7-f2be-4607-afcf-c3b6237e9fe5", f"hôte-{first + i}",
                        [vif(port, mac, "net-a", "10.%d.%d.%d" % ((i >> 16) & 255, (i >> 8) & 255, i & 255 or 1),
                             "2001:db8::%x" % (i + 1))])
        emit_create_end(ctxt, inst)
        if delete_every and i % delete_every == 0:
            emit_delete_end(ctxt, inst)
    if server:
        server.stop()
        server.wait()
    if errors:
        print("\n".join(errors), file=sys.stderr)
        raise SystemExit(3)


if __name__ == "__main__":
    import argparse
    import sys
    parser = argparse.ArgumentParser()
    parser.add_argument("conf")
    parser.add_argument("first", type=int)
    parser.add_argument("count", type=int)
    parser.add_argument("--ready", required=True)
    parser.add_argument("--go", required=True)
    parser.add_argument("--delete-every", type=int, default=0)
    parser.add_argument("--no-rpc", action="store_true")
    args = parser.parse_args()
    scenario(args.conf, args.first, args.count, args.ready, args.go, args.delete_every, rpc=not args.no_rpc)
