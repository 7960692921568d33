import ArgumentParser
import CommandSupport
import NovaDirsvc

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

struct ReconcileCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reconcile",
        abstract: "Repair drift between Nova's list of live instances and the directory (one shot, cron-safe).",
        discussion: """
            --from-nova lists every server of every project from Nova's API itself:
            Keystone credentials from [nova] in the configuration file (keystoneauth's
            option names: auth_url, auth_type password or v3applicationcredential, ...,
            region_name, interface, cafile), then GET /servers/detail?all_tenants=1 at
            microversion 2.69, every page. A failure on the way (Keystone or Nova down or
            refusing, a page that fails) changes nothing: 77 credentials or policy
            refused, 69 unreachable, 64 settings.
            --instances takes a JSON list of records, the bodies of Nova's GET
            /servers/detail (every page, in order: repeat --instances, or one page after
            another on standard input), or the output of `openstack server list
            --all-projects --long -f json`. A server listed as DELETED is not live; one
            with status UNKNOWN (a cell that is down) is left as it is. An attribute the
            input form cannot supply is left as it is. Entries without novaInstance are
            never touched; only entries one level under the base DN are considered.
            Exit status: 0 done (or --check: no drift), 1 some changes failed (or
            --check: drift), 65 input refused (empty, unreadable, or too many
            deletions), and as for register.
            """)

    enum Format: String, ExpressibleByArgument, CaseIterable { case ldif, json }

    @Option(
        help: ArgumentHelp(
            "The live instances (JSON), or - for standard input; repeat for the pages of /servers/detail, in order (standard input may also carry one page after another).",
            valueName: "path|-"))
    var instances: [String] = []

    @Flag(help: "List the live instances from Nova's API (the [nova] settings: Keystone credentials), instead of --instances.")
    var fromNova = false

    @Flag(help: "Print the changes and write nothing.")
    var dryRun = false

    @Flag(help: "Write nothing; exit 1 when there is drift, 0 when there is none.")
    var check = false

    @Option(help: "Format of --dry-run output: an LDIF change file for ldapmodify -f, or JSON.")
    var format: Format = .ldif

    @Option(help: ArgumentHelp("Refuse when deletions would exceed this fraction of the managed entries.", valueName: "ratio"))
    var maxDeleteRatio = 0.1

    @Flag(help: "Proceed even when deletions exceed --max-delete-ratio.")
    var allowMassDelete = false

    @Option(help: ArgumentHelp("Never delete an entry created or modified less than this many seconds ago.", valueName: "seconds"))
    var grace = 600.0

    @OptionGroup var connection: ConnectionOptions

    /// Checked in run(), not in validate(): ArgumentParser calls validate() before it reports an
    /// unknown option, which must be named first (`--timout`: "did you mean --timeout?").
    func checkFlags() throws {
        if dryRun && check { throw ValidationError("--dry-run and --check exclude each other") }
        if fromNova == !instances.isEmpty { throw ValidationError("give either --instances or --from-nova (one of them)") }
        if !maxDeleteRatio.isFinite || !(0...1).contains(maxDeleteRatio) {
            throw ValidationError("--max-delete-ratio must be between 0 and 1")
        }
        if !grace.isFinite || grace < 0 { throw ValidationError("--grace must be a number of seconds, not negative") }
    }

    func run() throws {
        try checkFlags()
        let configuration = try connection.resolve()
        var nova: Configuration.Nova? = nil
        if fromNova {
            guard let settings = configuration.nova else {
                throw ConfigurationError(
                    "--from-nova: no [nova] auth_url in the configuration file (see docs/reconcile.md)")
            }
            nova = settings
        }
        // connecting gets the usual budget; the reconcile itself as long as it takes
        let ldap = try Directory.connect(configuration, deadline: .now + configuration.timeout)
        defer { ldap.close() }
        let start = ContinuousClock.now
        let mapping = EntryMapping(baseDN: configuration.baseDN)
        let reconciler = Reconciler(connection: ldap, mapping: mapping)
        var limits = Reconciler.Limits()
        limits.maxDeleteRatio = maxDeleteRatio
        limits.allowMassDelete = allowMassDelete
        limits.grace = grace
        // the directory's index first, then the list streamed against it (Reconciler.Planner)
        var planner = try Reconciler.Planner(reconciler, limits: limits)
        if nova != nil {
            // read again by nova-dirsvc-serve, which fetches the pages
            try NovaServerPages.stream(configFile: connection.config, baseDN: configuration.baseDN.string) { try planner.add($0) }
            warn("nova: \(planner.live) live servers, \(planner.deleted) deleted, \(planner.unreachable) in cells that are down")
        } else {
            var pages = InstanceListDecoder.Pages()
            for path in instances {
                try InstanceListDecoder.decode(InstanceListDecoder.readInput(path: path), through: &pages) { try planner.add($0) }
            }
            try pages.finish()
        }
        if planner.unreachable > 0 {
            warn("\(planner.unreachable) instance(s) in a cell that is down (status UNKNOWN): their entries are left as they are")
        }
        let plan = try planner.finish()
        for dn in plan.skipped { warn("skipped \(dn): its novaInstanceUUID does not match its DN") }

        if check {
            warn(
                "reconcile --check: \(plan.additions) to add, \(plan.modifications) to modify, \(plan.deletions) to delete, "
                    + "\(plan.unchanged) unchanged, \(plan.keptByGrace.count) kept (grace), \(plan.leftAlone.count) left alone (cell down), "
                    + "\(plan.conflicts.count) replication conflict entries")
            for dn in plan.conflicts { warn("replication conflict entry: \(dn)") }
            if let refusal = plan.refusal { warn("a real run would refuse: \(refusal)") }
            if plan.hasDrift { throw ExitCode(1) }  // drift, whether or not a real run would refuse it
            return
        }
        if dryRun {
            let printer = PlanPrinter(mapping: mapping) { POSIX.write(1, $0) }
            switch format {
            case .ldif: printer.ldif(plan)
            case .json: printer.json(plan)
            }
            if let refusal = plan.refusal { throw refusal }  // the plan is shown, and so is the refusal (65)
            return
        }
        let bar = ProgressBar()
        var summary = try reconciler.apply(plan, progress: bar.update)
        bar.finish()
        summary.elapsed = ContinuousClock.now - start
        for failure in summary.failures { warn("failed: \(failure.error)") }
        warn("reconcile: \(summary.description)")
        if !summary.failures.isEmpty { throw ExitCode(1) }
    }
}
