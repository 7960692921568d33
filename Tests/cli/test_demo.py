"""The README's first command, the main job end to end (scripts/demo.sh): run as a user would,
with its output going to a pipe. It starts its own throwaway 389-ds beside the test one."""
import subprocess

from helpers import ROOT


def test_the_demo_runs_end_to_end_and_prints_no_colour_codes_into_a_pipe():
    proc = subprocess.run(["bash", str(ROOT / "scripts" / "demo.sh")], capture_output=True, text=True, timeout=600,
                          cwd=str(ROOT))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    out = proc.stdout
    assert "configuration: ok" in out
    assert "registered 2cb805cf-debe-43ae-a555-28a4a5d84694: added" in out
    assert "unregistered 2cb805cf-debe-43ae-a555-28a4a5d84694: deleted" in out
    assert "registered 178b0921-8f85-4257-88b6-2e743b5a975c: added" in out
    assert "unregistered 178b0921-8f85-4257-88b6-2e743b5a975c: deleted" in out
    assert "\x1b[" not in out + proc.stderr
    # the resident service: Nova's notifications through a local RabbitMQ into the directory
    assert "broker: guest@127.0.0.1" in out and "exchange nova exists" in out
    assert "serve: register 2cb805cf-debe-43ae-a555-28a4a5d84694: added" in out
    assert "serve: unregister 2cb805cf-debe-43ae-a555-28a4a5d84694: deleted" in out
    assert "stopped: received=2 applied=2 ignored=0 queued=0 failed=0" in out
