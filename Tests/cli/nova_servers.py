"""Puts servers into Nova's databases with Nova's own objects (nova 34.0.0), as nova-api and
nova-compute leave them: an Instance in the cell database (with its flavor, image, host name,
project and user, and the network info cache the API builds `addresses` from), and its
InstanceMapping in the API database. Used by openstack_cloud.py.

    python nova_servers.py NOVA_CONF create|delete < specs.json

A spec: {"uuid", "project_id", "user_id", "hostname", "image" (optional: boot from volume),
"ports": [{"mac", "ips": [...]}]} (create), {"uuid"} (delete: Instance.destroy(), as Nova does:
the row stays, soft-deleted). Prints what it did as JSON."""
import json
import sys
import uuid as uuidlib

from nova import config, context, objects
from nova.network import model as network_model


def network_info(ports):
    vifs = []
    for port in ports:
        subnets = {}
        for ip in port["ips"]:
            cidr = ip.rsplit(".", 1)[0] + ".0/24" if "." in ip else ip.rsplit(":", 1)[0] + ":/64"
            subnets.setdefault(cidr, []).append(network_model.FixedIP(address=ip))
        network = network_model.Network(id=str(uuidlib.uuid4()), label="private", subnets=[
            network_model.Subnet(cidr=cidr, ips=ips, version=6 if ":" in cidr else 4) for cidr, ips in subnets.items()])
        vifs.append(network_model.VIF(id=str(uuidlib.uuid4()), address=port["mac"], network=network, type="ovs", active=True))
    return network_model.NetworkInfo(vifs)


def main(conf, action, specs):
    config.parse_args(["nova_servers", "--config-file", conf])
    objects.register_all()
    admin = context.get_admin_context()
    cell = next(c for c in objects.CellMappingList.get_all(admin) if c.name == "cell1")
    done = []
    if action == "create":
        try:
            flavor = objects.Flavor.get_by_flavor_id(admin, "1")
        except Exception:
            flavor = objects.Flavor(admin, name="m1.small", memory_mb=512, vcpus=1, root_gb=1, ephemeral_gb=0, flavorid="1",
                                    swap=0, rxtx_factor=1.0, vcpu_weight=0, disabled=False, is_public=True, extra_specs={})
            flavor.create()
        for spec in specs:
            with context.target_cell(admin, cell) as cctxt:
                instance = objects.Instance(
                    context=cctxt, uuid=spec["uuid"], project_id=spec["project_id"], user_id=spec["user_id"],
                    image_ref=spec.get("image", ""), hostname=spec["hostname"], display_name=spec["hostname"],
                    vm_state="active", power_state=1, task_state=None, host="compute-01",
                    flavor=flavor, instance_type_id=flavor.id, memory_mb=flavor.memory_mb, vcpus=flavor.vcpus,
                    root_gb=flavor.root_gb, ephemeral_gb=0, launched_at=None, metadata={}, system_metadata={},
                    info_cache=objects.InstanceInfoCache(network_info=network_info(spec.get("ports", []))))
                instance.create()
            objects.InstanceMapping(context=admin, instance_uuid=spec["uuid"], cell_mapping=cell,
                                    project_id=spec["project_id"], user_id=spec["user_id"]).create()
            done.append(spec["uuid"])
    elif action == "delete":
        for spec in specs:
            with context.target_cell(admin, cell) as cctxt:
                objects.Instance.get_by_uuid(cctxt, spec["uuid"]).destroy()
            done.append(spec["uuid"])
    print(json.dumps(done))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], json.loads(sys.stdin.read()))
