"""A pytest plugin for CI (`-p pytest_no_skips`, with Tests/ on PYTHONPATH): a run in which any
test was skipped fails. Skips are for a developer's machine without a directory or slapd; in
CI, where scripts/test.sh starts them, a skipped test would be a test that silently stopped
running."""


def pytest_sessionfinish(session, exitstatus):
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if skipped and exitstatus == 0:
        reporter.write_line(f"error: {len(skipped)} test(s) skipped; every test must run here", red=True)
        session.exitstatus = 1
