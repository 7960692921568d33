"""pytest's fixtures and hooks for the end-to-end tests of the nova-dirsvc binary against the
throwaway 389-ds (scripts/test.sh, or `scripts/directory.sh run DIR -- pytest ...`, sets
NOVA_DIRSVC_TEST_* and NOVA_DIRSVC_BIN). The shared helpers are in helpers.py."""
import uuid

import pytest

from helpers import BASE, URI, Tool, ldap


def pytest_collection_modifyitems(config, items):
    if not URI:
        skip = pytest.mark.skip(reason="no test directory: run scripts/test.sh "
                                       "(or scripts/directory.sh run DIR -- pytest ...)")
        for item in items:
            item.add_marker(skip)


@pytest.fixture
def container():
    """A fresh ou under the instances base, so tests never see each other's entries."""
    name = "cli-" + uuid.uuid4().hex[:8]
    dn = f"ou={name},{BASE}"
    ldap("ldapadd", input=f"dn: {dn}\nobjectClass: top\nobjectClass: organizationalUnit\nou: {name}\n")
    return dn


@pytest.fixture
def tool(container, tmp_path):
    return Tool(container, tmp_path / "events.log")


@pytest.fixture(autouse=True)
def no_service_left_running():
    """A `nova-dirsvc serve` a test started (and did not stop, e.g. because it failed) is killed."""
    yield
    from serve_helpers import Serve
    Serve.kill_leftovers()
