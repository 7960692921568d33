"""reconcile with what Nova's API really returns (issue 10): pages, deleted and down-cell
servers, servers without ports, a base DN that does not exist, the mass-delete guard shown."""
import copy
import json
import uuid as uuidlib

from helpers import BIN, FIXTURES, LDAPI, managed, record

PAGE = json.loads((FIXTURES / "servers-detail-v2.1.json").read_text())  # links to a next page


def pages(n):
    """n pages of one server each, Nova's own server with a new id; each but the last links on."""
    result = []
    for i in range(n):
        page = copy.deepcopy(PAGE)
        page["servers"][0]["id"] = str(uuidlib.uuid4())
        if i == n - 1:
            del page["servers_links"]
        result.append(page)
    return result


def ids(pages_):
    return {s["id"] for p in pages_ for s in p["servers"]}


def test_pages_as_several_files_and_as_a_stream(tool, container, tmp_path):
    given = pages(3)
    files = []
    for i, page in enumerate(given):
        files += ["--instances", str(tmp_path / f"page{i}.json")]
        (tmp_path / f"page{i}.json").write_text(json.dumps(page))
    proc = tool.run("reconcile", *files)
    assert proc.returncode == 0, proc.stderr
    assert set(managed(container)) == ids(given)
    # one page after another on standard input, as a loop over the pages would print them
    more = pages(2)
    stream = "\n".join(json.dumps(p, indent=1) for p in given + more)
    proc = tool.run("reconcile", "--instances", "-", "--grace", "0", input=stream)
    assert proc.returncode == 0, proc.stderr
    assert set(managed(container)) == ids(given + more)


def test_a_page_whose_next_page_is_missing_is_refused(tool, container):
    before = managed(container)
    proc = tool.run("reconcile", "--instances", "-", input=json.dumps(PAGE))
    assert proc.returncode == 65, proc.stderr
    assert "servers_links" in proc.stderr and "marker=f5dc173b" in proc.stderr
    assert managed(container) == before


def test_deleted_and_down_cell_servers(tool, container):
    live = pages(1)[0]
    gone = copy.deepcopy(live["servers"][0])
    gone["id"], gone["status"] = str(uuidlib.uuid4()), "DELETED"
    down = json.loads((FIXTURES / "servers-detail-v2.69-down-cell.json").read_text())
    down_id = down["servers"][0]["id"]
    # the directory knows the down-cell instance and the deleted one
    for r in (record(down_id, project_name="kept"), record(gone["id"])):
        assert tool.run("register", "--event", "-", input=json.dumps(r)).returncode == 0
    live["servers"].append(gone)
    proc = tool.run("reconcile", "--instances", "-", "--grace", "0", "--allow-mass-delete",
                    input=json.dumps(live) + json.dumps(down))
    assert proc.returncode == 0, proc.stderr
    assert "cell that is down" in proc.stderr
    entries = managed(container)
    assert set(entries) == {live["servers"][0]["id"], down_id}       # DELETED: not added, its entry gone
    assert entries[down_id]["novaprojectname"] == ["kept"]           # UNKNOWN: not touched


def test_a_server_without_ports_loses_its_stale_addresses(tool, container):
    page = pages(1)[0]
    server = page["servers"][0]
    assert tool.run("reconcile", "--instances", "-", input=json.dumps(page)).returncode == 0
    assert "macaddress" in managed(container)[server["id"]]
    server["addresses"] = {}
    proc = tool.run("reconcile", "--instances", "-", input=json.dumps(page))
    assert proc.returncode == 0, proc.stderr
    entry = managed(container)[server["id"]]
    assert "macaddress" not in entry and "novaipaddress" not in entry


def test_a_base_dn_that_does_not_exist_is_named(tool, container):
    missing = f"ou=nowhere,{container}"
    proc = tool.run("reconcile", "--instances", "-", "--dry-run", input=json.dumps([record()]), base_dn=missing)
    assert proc.returncode == 64, proc.stderr
    assert f'the base DN "{missing}" does not exist' in proc.stderr
    proc = tool.run("unregister", "--instance-uuid", str(uuidlib.uuid4()), base_dn=missing)
    assert proc.returncode == 64 and "does not exist" in proc.stderr, proc.stderr


def test_the_guard_shows_what_it_refuses(tool, container):
    records = [record() for _ in range(4)]
    assert tool.run("reconcile", "--instances", "-", input=json.dumps(records)).returncode == 0
    proc = tool.run("reconcile", "--instances", "-", "--dry-run", "--grace", "0", input=json.dumps(records[:1]))
    assert proc.returncode == 65, proc.stderr
    assert proc.stdout.count("changetype: delete") == 3                # the plan is printed...
    assert "would be deleted" in proc.stderr                            # ...with the refusal
    proc = tool.run("reconcile", "--instances", "-", "--check", "--grace", "0", input=json.dumps(records[:1]))
    assert proc.returncode == 1, proc.stderr                            # drift, not bad input
    assert "a real run would refuse" in proc.stderr
    assert len(managed(container)) == 4
