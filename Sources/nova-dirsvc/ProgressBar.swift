import Glibc
import NovaDirsvc

/// A progress bar on standard error, only on a terminal and only once a run takes more than
/// a moment (one second).
final class ProgressBar {
    private let start = ContinuousClock.now
    private var lastDraw = ContinuousClock.now
    private var drawn = false
    private let enabled = isatty(2) == 1

    init() {}

    func update(done: Int, total: Int) {
        guard enabled, total > 0 else { return }
        let now = ContinuousClock.now
        guard now - start > .seconds(1), now - lastDraw > .milliseconds(100) || done == total else { return }
        lastDraw = now
        drawn = true
        let width = 40
        let filled = width * done / total
        let line = "\r[" + String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled) + "] \(done)/\(total)"
        POSIX.write(2, line)
    }

    func finish() {
        if drawn { POSIX.write(2, "\n") }
    }
}
