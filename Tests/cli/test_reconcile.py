"""reconcile against 389-ds: the plan, its guards, its three input forms, dry run and check."""
import json
import subprocess
import time
import uuid as uuidlib

import pytest

from helpers import FIXTURES, SERVICE_DN, SERVICE_PW_FILE, URI, dump, ldap, managed, record


def reconcile(tool, instances, *flags, **overrides):
    data = instances if isinstance(instances, str) else json.dumps(instances)
    return tool.run("reconcile", "--instances", "-", *flags, input=data, **overrides)



def seed(tool, records):
    proc = reconcile(tool, records)
    assert proc.returncode == 0, proc.stderr
    return proc


def test_adds_modifies_deletes_and_leaves_foreign_entries(tool, container):
    keep, change, drop = record(), record(), record()
    seed(tool, [keep, change, drop])
    # a foreign entry, and a managed entry in a sub-container: neither is reconcile's business
    ldap("ldapadd", input=f"dn: cn=foreign,{container}\nobjectClass: person\ncn: foreign\nsn: x\n")
    sub = f"ou=sub,{container}"
    ldap("ldapadd", input=f"dn: {sub}\nobjectClass: organizationalUnit\nou: sub\n")
    other = str(uuidlib.uuid4())
    ldap("ldapadd", input=f"dn: cn={other},{sub}\nobjectClass: inetOrgPerson\nobjectClass: novaInstance\n"
                          f"cn: {other}\nsn: {other}\nnovaInstanceUUID: {other}\n")
    foreign_before = dump(f"cn=foreign,{container}") + dump(sub)
    new = record()
    changed = dict(change, project_name="demo")
    proc = reconcile(tool, [keep, changed, new], "--grace", "0", "--allow-mass-delete")
    assert proc.returncode == 0, proc.stderr
    assert "added 1, modified 1, deleted 1, unchanged 1" in proc.stderr
    entries = managed(container)
    assert set(entries) == {keep["instance_uuid"], change["instance_uuid"], new["instance_uuid"]}
    assert entries[change["instance_uuid"]]["novaprojectname"] == ["demo"]
    assert dump(f"cn=foreign,{container}") + dump(sub) == foreign_before


def test_more_than_2000_entries_page_and_converge(tool, container):
    records = [record() for _ in range(2500)]
    proc = seed(tool, records)
    assert "added 2500" in proc.stderr
    assert len(managed(container)) == 2500
    # the service account's size limit is 389-ds's default 2,000: a search without paging stops there
    plain = subprocess.run(["ldapsearch", "-x", "-H", URI, "-D", SERVICE_DN, "-y", SERVICE_PW_FILE, "-LLL", "-s", "one",
                            "-b", container, "(objectClass=novaInstance)", "1.1"], capture_output=True, text=True)
    assert plain.returncode == 4 and plain.stdout.count("dn:") == 2000, plain.stderr
    proc = reconcile(tool, records, "--check")
    assert proc.returncode == 0, proc.stderr
    assert "2500 unchanged" in proc.stderr
    # one entry gone from Nova: deleted; the other 2,499 are read through pages and kept
    proc = reconcile(tool, records[1:], "--grace", "0")
    assert proc.returncode == 0, proc.stderr
    assert "deleted 1, unchanged 2499" in proc.stderr
    assert records[0]["instance_uuid"] not in managed(container)


@pytest.mark.parametrize("data", ["", "  \n", "[]", '{"servers": []}'])
def test_empty_input_is_refused(tool, container, data):
    seed(tool, [record()])
    before = dump(container)
    proc = reconcile(tool, data)
    assert proc.returncode == 65, proc.stderr
    assert "instances:" in proc.stderr
    assert dump(container) == before


def test_delete_ratio_guard(tool, container):
    records = [record() for _ in range(10)]
    seed(tool, records)
    before = dump(container)
    proc = reconcile(tool, records[:8], "--grace", "0")           # 2 of 10 > 0.1
    assert proc.returncode == 65 and "--max-delete-ratio" in proc.stderr
    assert dump(container) == before
    proc = reconcile(tool, records[:8], "--grace", "0", "--max-delete-ratio", "0.2")
    assert proc.returncode == 0, proc.stderr
    assert len(managed(container)) == 8
    proc = reconcile(tool, records[:1], "--grace", "0", "--allow-mass-delete")
    assert proc.returncode == 0, proc.stderr
    assert list(managed(container)) == [records[0]["instance_uuid"]]


def test_grace_period_protects_recent_entries(tool, container):
    old, recent = record(), record()
    seed(tool, [old])
    time.sleep(2.2)
    seed(tool, [old, recent])        # recent: created just now
    proc = reconcile(tool, [record()], "--allow-mass-delete", "--grace", "2")
    assert proc.returncode == 0, proc.stderr
    assert "kept (grace) 1" in proc.stderr
    remaining = managed(container)
    assert recent["instance_uuid"] in remaining and old["instance_uuid"] not in remaining
    # a recent *modification* also counts
    time.sleep(2.2)
    assert tool.run("register", "--event", "-", input=json.dumps(dict(recent, project_name="touched"))).returncode == 0
    proc = reconcile(tool, [record()], "--allow-mass-delete", "--grace", "2")
    assert "kept (grace) 1" in proc.stderr and recent["instance_uuid"] in managed(container)
    proc = reconcile(tool, [record()], "--allow-mass-delete", "--grace", "0")
    assert recent["instance_uuid"] not in managed(container)


def normalized(container):
    """The managed entries, keyed by UUID, without the container part of the DN."""
    return {u: {k: sorted(v) for k, v in a.items()} for u, a in managed(container).items()}


@pytest.fixture
def twin(container, tmp_path):
    """A second container with its own Tool, for comparing a dry run with a real run."""
    from helpers import Tool
    name = "twin-" + uuidlib.uuid4().hex[:8]
    dn = container.replace(container.split(",")[0], f"ou={name}", 1)
    ldap("ldapadd", input=f"dn: {dn}\nobjectClass: top\nobjectClass: organizationalUnit\nou: {name}\n")
    return Tool(dn, tmp_path / "twin.log")


def test_dry_run_ldif_applied_by_ldapmodify_matches_a_real_run(tool, twin, container):
    start = [record(), record(), record(project_name="x, y = z+ \"q\"")]
    for t in (tool, twin):
        seed(t, start)
    target = [dict(start[0], project_name="changed", mac_address=["fa:16:3e:00:00:01", "fa:16:3e:00:00:02"]),
              start[2], record(user_name="Lučić"), record(image_uuid="", mac_address=[])]
    before = dump(container)
    proc = reconcile(tool, target, "--dry-run", "--grace", "0", "--allow-mass-delete")
    assert proc.returncode == 0, proc.stderr
    assert dump(container) == before                        # a dry run writes nothing
    ldif = proc.stdout
    assert "changetype: add" in ldif and "changetype: modify" in ldif and "changetype: delete" in ldif
    applied = subprocess.run(["ldapmodify", "-x", "-H", URI, "-D", SERVICE_DN, "-y", SERVICE_PW_FILE],
                             input=ldif, capture_output=True, text=True)
    assert applied.returncode == 0, applied.stderr
    proc = reconcile(twin, target, "--grace", "0", "--allow-mass-delete")
    assert proc.returncode == 0, proc.stderr
    assert normalized(container) == normalized(twin.base_dn)
    # and both have converged: nothing more to do
    assert reconcile(tool, target, "--check").returncode == 0
    assert reconcile(twin, target, "--check").returncode == 0


def test_dry_run_json(tool, container):
    a, b = record(), record()
    seed(tool, [a])
    proc = reconcile(tool, [dict(a, user_name="bob"), b], "--dry-run", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    plan = json.loads(proc.stdout)
    assert [(c["action"], c["instance_uuid"]) for c in plan] == [("modify", a["instance_uuid"]), ("add", b["instance_uuid"])]
    assert plan[0]["changes"] == [{"op": "replace", "attribute": "novaUserName", "values": ["bob"]}]


def test_check_exit_codes_and_writes_nothing(tool, container):
    a = record()
    seed(tool, [a])
    assert reconcile(tool, [a], "--check").returncode == 0
    before = dump(container)
    proc = reconcile(tool, [a, record()], "--check")
    assert proc.returncode == 1 and "1 to add" in proc.stderr
    assert dump(container) == before


def test_one_failed_entry_is_reported_while_the_rest_apply(tool, container):
    blocked = str(uuidlib.uuid4())
    # something that is not ours already sits at the DN the instance would get
    ldap("ldapadd", input=f"dn: cn={blocked},{container}\nobjectClass: person\ncn: {blocked}\nsn: x\n")
    fine = [record() for _ in range(5)]
    proc = reconcile(tool, fine + [record(blocked)])
    assert proc.returncode == 1
    assert f"cn={blocked},{container}" in proc.stderr
    assert "added 5" in proc.stderr and "failed 1" in proc.stderr
    assert set(managed(container)) == {r["instance_uuid"] for r in fine}


def test_nova_servers_detail_form(tool, container):
    page = json.loads((FIXTURES / "servers-detail-v2.47.json").read_text())
    before = dump(container)
    assert reconcile(tool, page).returncode == 65          # a page that links to a next page
    assert dump(container) == before
    del page["servers_links"]
    proc = reconcile(tool, page)
    assert proc.returncode == 0, proc.stderr
    entry = managed(container)["764e369e-a874-4401-b7ce-43e4760888da"]
    assert entry["novaimageuuid"] == ["70a599e0-31e7-49b7-b260-868f441e862b"]
    assert entry["macaddress"] == ["aa:bb:cc:dd:ee:ff"] and entry["novaipaddress"] == ["192.168.0.3"]
    assert entry["novahostname"] == ["new-server-test"]
    assert entry["novaprojectid"] == ["6f70656e737461636b20342065766572"] and entry["novauserid"] == ["fake"]
    assert "novaprojectname" not in entry
    assert reconcile(tool, page, "--check").returncode == 0


def test_openstack_server_list_form_leaves_what_it_cannot_supply(tool, container):
    full = record(ip_addresses=["10.0.0.3"])
    seed(tool, [full])
    rows = [
        {"ID": full["instance_uuid"], "Name": "web-1", "Status": "ACTIVE", "Networks": {"private": ["10.0.0.3"]},
         "Image Name": "cirros", "Image ID": full["image_uuid"], "Flavor": "m1.tiny"},
        {"ID": "5d1f6e0e-0c2a-4b8e-9f51-2f7a3c9d1e22", "Name": "db-1", "Status": "ACTIVE",
         "Networks": "private=10.0.0.4, fd00::4", "Image Name": "", "Image ID": "N/A (booted from volume)"},
    ]
    proc = reconcile(tool, rows)
    assert proc.returncode == 0, proc.stderr
    assert "added 1, modified 0, deleted 0, unchanged 1" in proc.stderr
    entries = managed(container)
    # names, MAC and remote address come only from the record, and stay
    kept = entries[full["instance_uuid"]]
    assert kept["novaprojectname"] == ["admin"] and kept["macaddress"] == ["fa:16:3e:56:50:29"]
    assert kept["novauserremoteaddress"] == ["192.168.122.97"]
    added = entries["5d1f6e0e-0c2a-4b8e-9f51-2f7a3c9d1e22"]
    assert added["novaipaddress"] == ["10.0.0.4", "fd00::4"] and "novaimageuuid" not in added
    assert reconcile(tool, rows, "--check").returncode == 0


@pytest.mark.parametrize("data,field", [
    ('[{"instance_uuid": "nope"}]', "[0].instance_uuid"),
    ('[{"ID": "764e369e-a874-4401-b7ce-43e4760888da", "Networks": 5}]', "[0].Networks"),
    ('{"servers": [{"id": 7}]}', "servers[0].id"),
    ('[{"instance_uuid": "764e369e-a874-4401-b7ce-43e4760888da"}, {"ID": "x"}]', "instances"),
    ('{"servers": [', "instances"),
])
def test_bad_instance_lists_name_the_field(tool, container, data, field):
    proc = reconcile(tool, data)
    assert proc.returncode == 65, proc.stderr
    assert f"error: {field}:" in proc.stderr
