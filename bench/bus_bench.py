"""`nova-dirsvc serve` against what an operator writes instead (bench/peer_listener.py: an
oslo.messaging notification listener with its own pool queue and the threading executor,
adding with python-ldap over one bound connection), on the same RabbitMQ, the same 389-ds and
the same notifications (Nova's RequestContext, Nova's sample payload, oslo.messaging's
Notifier). Run by bench/run.sh (--bus-only: this alone).

For each queue type (quorum, then classic; the peer's queue follows rabbit_quorum_queue as
oslo.messaging declares it): both consumers' queues are declared and bound, N create.end wait
in each, then each consumer alone drains its queue into a container of its own. Prints each
one's rate and serve's rate over the peer's. Targets: at least 2x the peer; a quorum queue
within 10% of a classic one. Not a test: nothing passes or fails."""
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serve_bench import AMQP_URL, QUICK, ROOT, WORK, Serve, container, count, drain, fill  # noqa: E402

N = 1_000 if QUICK else 5_000


def peer(exchange, base, quorum, done, declare_only=False):
    return subprocess.Popen([sys.executable, "-W", "ignore", str(ROOT / "bench/peer_listener.py"), AMQP_URL, exchange,
                             base, "1" if quorum else "0", str(N), str(done)] + (["--declare-only"] if declare_only else []),
                            stderr=subprocess.DEVNULL)


def round_(queue_type):
    quorum = queue_type == "quorum"
    exchange = f"nova-bench-{queue_type}"
    ours_base, theirs_base = container(f"bench-bus-{queue_type}"), container(f"bench-peer-{queue_type}")
    serve = Serve(f"bus-{queue_type}", ours_base)
    serve.conf.write_text(serve.conf.read_text().replace(f"exchange = {serve.exchange}\n", f"exchange = {exchange}\n")
                          + f"queue_type = {queue_type}\n")
    # the exchange durable in both rounds (amqp_durable_queues = true for the publisher and the
    # peer): oslo.messaging's own versioned_notifications.info, shared by the rounds, keeps one durability
    serve.exchange, serve.nova_durable = exchange, True
    serve.start()
    serve.stop()  # its queue exists: the notifications wait there
    done = WORK / f"peer-{queue_type}.done"
    assert peer(exchange, theirs_base, quorum, done, declare_only=True).wait(timeout=120) == 0
    fill(exchange, N, durable=True)
    ours = drain(serve, N)
    assert count(ours_base) == N
    assert peer(exchange, theirs_base, quorum, done).wait(timeout=1800) == 0
    theirs = float(done.read_text())
    assert count(theirs_base) == N
    print(f"   {queue_type}: serve {N / ours:.0f}/s ({ours:.1f} s, start-up included), "
          f"peer {N / theirs:.0f}/s ({theirs:.1f} s): {theirs / ours:.2f}x", flush=True)
    return ours, theirs


def main():
    print(f"bus: {N:,} create.end from a queue, serve vs an oslo.messaging listener with python-ldap", flush=True)
    results = {t: round_(t) for t in ("quorum", "classic")}
    print("\n| queue | nova-dirsvc serve | oslo.messaging listener + python-ldap | ratio | target |")
    print("|---|---|---|---|---|")
    for queue_type, (ours, theirs) in results.items():
        print(f"| {queue_type} | {N / ours:.0f}/s | {N / theirs:.0f}/s | {theirs / ours:.2f}x | at least 2x |")
    q, c = results["quorum"][0], results["classic"][0]
    print(f"| serve, quorum over classic | {N / q:.0f}/s | {N / c:.0f}/s (classic) | {c / q:.2f} | at least 0.9 |")


if __name__ == "__main__":
    main()
