"""The create_instance and delete_instance hooks.

Nova (releases up to 21.x; hooks were removed in 22.0.0 Victoria) wraps two methods with
``@hooks.add_hook(name)`` and runs every object registered under that name in the
``nova.hooks`` entry-point group, created once with ``invoke_on_load=True``:

- ``create_instance`` wraps ``nova.compute.api.API.create`` (on nova-api): ``post(rv, api,
  context, instance_type, image_href, ...)``, where ``rv`` is ``(instances, reservation_id)``;
- ``delete_instance`` wraps ``ComputeManager._delete_instance`` (on nova-compute):
  ``pre(manager, context, instance, ...)``.

Each hook builds the record (the "DICT") from what Nova passes and hands it to
``nova-dirsvc register|unregister --event -`` on standard input, with a short timeout. A hook
never raises into Nova: every failure is logged (logger ``nova_dirsvc_hook``) and swallowed.
The CLI reads its connection settings from /etc/nova-dirsvc/nova-dirsvc.conf (or NOVA_DIRSVC_*),
and keeps its own event log.

HTTP mode: with NOVA_DIRSVC_URL set (a running ``nova-dirsvc serve`` with ``[http]``), the hook
POSTs the DICT to ``URL/v1/instances`` / DELETEs ``URL/v1/instances/UUID`` instead, with the
token from NOVA_DIRSVC_TOKEN_FILE, within NOVA_DIRSVC_HTTP_TIMEOUT seconds (default 2): no
process start, no bind. When the service does not answer, or the answer is not its own refusal of
the event (5xx, 401, a 404 from something else on the port), the hook falls back to the CLI, and
so to its spool, with what is left of its limit.

Settings, from the environment of the Nova service:
  NOVA_DIRSVC_BIN           the CLI (default: nova-dirsvc on PATH)
  NOVA_DIRSVC_URL           the service, e.g. http://127.0.0.1:8849 (default: none, CLI only)
  NOVA_DIRSVC_TOKEN_FILE    the file holding the service's token (X-Auth-Token)
  NOVA_DIRSVC_HTTP_TIMEOUT  seconds for one HTTP call (default 2)
  NOVA_DIRSVC_HOOK_TIMEOUT  seconds one hook call may hold Nova's API request, however many
                            instances the call created (default 4). The CLI is given what is
                            left of it minus a margin as its own time budget (``--timeout``), so
                            it always finishes in time to queue the event in its spool when the
                            directory does not answer; once the directory has not answered, the
                            other instances of the same call go straight to the spool (a budget
                            of a fraction of a second each).
"""
import json
import logging
import os
import subprocess
import time
import urllib.error
import urllib.request

LOG = logging.getLogger("nova_dirsvc_hook")


def _field(obj, name, default=None):
    """An attribute of a Nova object, or a key of a dict; default when absent."""
    if obj is None:
        return default
    if isinstance(obj, dict):
        return obj.get(name, default)
    try:
        return getattr(obj, name, default)
    except Exception:  # Nova objects raise on lazy-load failures
        return default


def _network_info(instance):
    """(MAC addresses, IP addresses) from the instance's network info cache, if allocated."""
    macs, ips = [], []
    cache = _field(instance, "info_cache")
    for vif in _field(cache, "network_info") or []:
        mac = _field(vif, "address")
        if mac and mac not in macs:
            macs.append(mac)
        for subnet in _field(_field(vif, "network"), "subnets") or []:
            for ip in _field(subnet, "ips") or []:
                address = _field(ip, "address")
                if address and address not in ips:
                    ips.append(address)
    return macs, ips


def _image_uuid(image_href):
    """Nova's image href is a UUID or a URL ending in one; "" for boot from volume."""
    if not image_href:
        return ""
    return str(image_href).rstrip("/").rsplit("/", 1)[-1]


def build_record(instance, context, image_href):
    """The DICT for one instance. Unknown values stay empty: the CLI writes only what is known."""
    macs, ips = _network_info(instance)
    record = {
        "instance_uuid": _field(instance, "uuid"),
        "image_uuid": _image_uuid(image_href if image_href is not None else _field(instance, "image_ref")),
        "mac_address": macs,
        "project_name": _field(context, "project_name"),
        "user_name": _field(context, "user_name"),
        "user_remote_address": _field(context, "remote_address"),
    }
    hostname = _field(instance, "hostname")
    if hostname:
        record["hostname"] = hostname
    if ips:
        record["ip_addresses"] = ips
    for key, name in (("project_id", "project_id"), ("user_id", "user_id")):
        value = _field(context, name)
        if value:
            record[key] = value
    return record


# What the hook leaves the CLI beyond its budget: process start, writing the spool, exit.
MARGIN = 1.5
# The least budget a CLI call gets: enough to write the event to the spool.
FLOOR = 0.2
DEFAULT_TIMEOUT = 4.0


def _refused_by_serve(error, detail):
    """Whether an HTTP error is serve's own refusal of the event (bad input, not an entry it
    owns, refused by the directory): a 4xx other than 401 whose problem document (RFC 9457) has
    serve's type. Anything else (a 404 from something else on the port, a proxy's 4xx, 401, 5xx)
    is not an answer about the event: the hook falls back to the CLI and its spool."""
    if not 400 <= error.code < 500 or error.code == 401:
        return False
    if not (error.headers.get("Content-Type") or "").startswith("application/problem+json"):
        return False
    try:
        return str(json.loads(detail).get("type", "")).startswith("urn:nova-dirsvc:problem:")
    except (ValueError, AttributeError):
        return False


class _Hook(object):
    def __init__(self):
        self.binary = os.environ.get("NOVA_DIRSVC_BIN", "nova-dirsvc")
        self.url = os.environ.get("NOVA_DIRSVC_URL", "").rstrip("/") or None
        self.token_file = os.environ.get("NOVA_DIRSVC_TOKEN_FILE")
        try:
            self.http_timeout = float(os.environ.get("NOVA_DIRSVC_HTTP_TIMEOUT", "2"))
        except ValueError:
            self.http_timeout = 2.0
        if not self.http_timeout > 0:
            self.http_timeout = 2.0
        try:
            self.timeout = float(os.environ.get("NOVA_DIRSVC_HOOK_TIMEOUT", str(DEFAULT_TIMEOUT)))
        except ValueError:
            self.timeout = DEFAULT_TIMEOUT
        if not self.timeout > MARGIN + FLOOR:  # also refuses nan
            self.timeout = MARGIN + FLOOR

    def _http(self, action, record, limit):
        """The event through the service; True when the service took it (applied or queued by
        it), False when the hook must fall back to the CLI. Never raises."""
        uuid = record.get("instance_uuid")
        try:
            headers = {"Content-Type": "application/json", "User-Agent": "nova-dirsvc-hook"}
            if self.token_file:
                with open(self.token_file) as f:
                    headers["X-Auth-Token"] = f.read().strip()
            if action == "register":
                request = urllib.request.Request(self.url + "/v1/instances", data=json.dumps(record).encode(),
                                                 headers=headers, method="POST")
            else:
                request = urllib.request.Request("%s/v1/instances/%s" % (self.url, uuid), headers=headers, method="DELETE")
            with urllib.request.urlopen(request, timeout=min(self.http_timeout, limit)) as response:
                LOG.info("nova-dirsvc %s %s: %s", action, uuid, response.read().decode("utf-8", "replace").strip())
                return True
        except urllib.error.HTTPError as error:
            detail = error.read().decode("utf-8", "replace").strip()
            if not _refused_by_serve(error, detail):
                LOG.warning("nova-dirsvc %s %s: the service answered %s (%s); falling back to the CLI",
                            action, uuid, error.code, detail[:500])
                return False
            LOG.error("nova-dirsvc %s %s refused by the service (%s): %s", action, uuid, error.code, detail)
            return True
        except Exception as error:  # no answer in time, refused connection, unreadable token file
            LOG.warning("nova-dirsvc %s %s: the service did not answer (%s); falling back to the CLI", action, uuid, error)
            return False

    def _run(self, action, record, deadline=None):
        """Hands the event to the service (HTTP mode), else runs the CLI within what is left
        until `deadline` (one hook call's limit); returns 0 when the service took it, else the
        CLI's exit status (None if it could not run or did not finish). Never raises."""
        uuid = record.get("instance_uuid")
        if self.url:
            limit = (deadline - time.monotonic()) if deadline is not None else self.timeout
            if limit > MARGIN + FLOOR and self._http(action, record, limit - MARGIN - FLOOR):
                return 0
        left = (deadline - time.monotonic()) if deadline is not None else self.timeout
        budget = max(FLOOR, left - MARGIN)
        try:
            proc = subprocess.run([self.binary, action, "--event", "-", "--timeout", "%.3f" % budget],
                                  input=json.dumps(record).encode(),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=budget + MARGIN)
        except subprocess.TimeoutExpired:
            LOG.error("nova-dirsvc %s %s: no answer within %.1fs; the event was not confirmed", action, uuid, budget + MARGIN)
            return None
        except Exception as error:  # binary missing, not executable, ...
            LOG.error("nova-dirsvc %s %s: could not run %s: %s", action, uuid, self.binary, error)
            return None
        output = (proc.stdout or b"").decode("utf-8", "replace").strip()
        errors = (proc.stderr or b"").decode("utf-8", "replace").strip()
        if proc.returncode == 0:
            LOG.info("%s", output)
        elif proc.returncode == 75:  # EX_TEMPFAIL: kept in nova-dirsvc's spool, applied later
            LOG.warning("nova-dirsvc %s %s queued (exit 75): %s", action, uuid, errors)
        else:
            LOG.error("nova-dirsvc %s %s failed (exit %s): %s", action, uuid, proc.returncode, errors)
        return proc.returncode


class CreateInstanceHook(_Hook):
    """create_instance, post: register every instance the API call created."""

    def post(self, rv, *args, **kwargs):
        try:
            context = args[1] if len(args) > 1 else kwargs.get("context")
            image_href = args[3] if len(args) > 3 else kwargs.get("image_href")
            instances = rv[0] if isinstance(rv, tuple) else rv
            deadline = time.monotonic() + self.timeout
            for instance in instances or []:
                status = self._run("register", build_record(instance, context, image_href), deadline)
                if status in (None, 69, 75):
                    # the directory did not answer: the rest of this call's instances go
                    # straight to the spool, each with the least budget
                    deadline = time.monotonic()
        except Exception:
            LOG.exception("nova-dirsvc create_instance hook failed")


class DeleteInstanceHook(_Hook):
    """delete_instance, pre: unregister the instance being deleted."""

    def pre(self, *args, **kwargs):
        try:
            instance = args[2] if len(args) > 2 else kwargs.get("instance")
            self._run("unregister", {"instance_uuid": _field(instance, "uuid")})
        except Exception:
            LOG.exception("nova-dirsvc delete_instance hook failed")
