import Glibc
import ServiceLifecycle

/// Runs blocking work on a POSIX thread of its own (FoundationEssentials has no Thread), and
/// awaits it: what the C libraries' blocking calls (libldap, rabbitmq-c) run on.
enum PosixThread {
    /// Runs `loop` on a thread of its own until it returns; the group's graceful shutdown and
    /// the task's cancellation both call `stop`, which must make `loop` return soon: the
    /// wiring of every blocking service of serve's group (the writer, the bus intake).
    static func runUntilShutdown(_ loop: @escaping @Sendable () -> Void, stop: @escaping @Sendable () -> Void) async {
        await withGracefulShutdownHandler {
            await withTaskCancellationHandler {
                await run(loop)
            } onCancel: {
                stop()
            }
        } onGracefulShutdown: {
            stop()
        }
    }

    static func run(_ body: @escaping @Sendable () -> Void) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            start {
                body()
                continuation.resume()
            }
        }
    }

    static func start(_ body: @escaping @Sendable () -> Void) {
        final class Box {
            let body: @Sendable () -> Void
            init(_ body: @escaping @Sendable () -> Void) { self.body = body }
        }
        let box = Unmanaged.passRetained(Box(body))
        var thread = pthread_t()
        let created = pthread_create(
            &thread, nil,
            { context in
                Unmanaged<Box>.fromOpaque(context!).takeRetainedValue().body()
                return nil
            }, box.toOpaque())
        precondition(created == 0, "cannot start a thread: \(String(cString: strerror(created)))")
        pthread_detach(thread)
    }
}
