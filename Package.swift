// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "nova-dirsvc",
    products: [
        .executable(name: "nova-dirsvc", targets: ["nova-dirsvc"]),
        .executable(name: "nova-dirsvc-serve", targets: ["nova-dirsvc-serve"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        // The HTTP side of `serve` only (the CLI does not link it): Hummingbird 2 on SwiftNIO,
        // TLS through swift-nio-ssl. A clean build takes a few minutes on 2 cores.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1", traits: []),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        // OpenLDAP's client library (libldap, liblber) and Cyrus SASL, imported as a system module.
        // Nothing but the LDAP target imports it: no C type crosses the LDAP target's public API.
        .systemLibrary(
            name: "CLDAP",
            pkgConfig: "ldap",
            providers: [.apt(["libldap-dev", "libsasl2-dev"])]
        ),
        // LDAP client over libldap: connection, bind, add/modify/delete, paged search,
        // pipelined (asynchronous) operations, DN and filter escaping. Knows nothing of Nova.
        .target(name: "LDAP", dependencies: ["CLDAP"]),
        // rabbitmq-c, the RabbitMQ team's C client (Debian's librabbitmq-dev), as a system module.
        // Nothing but the AMQP target imports it.
        .systemLibrary(
            name: "CRabbitMQ",
            pkgConfig: "librabbitmq",
            providers: [.apt(["librabbitmq-dev"])]
        ),
        // AMQP 0-9-1 client over rabbitmq-c: connect, declare, bind, consume, acknowledge,
        // publish; typed errors, owned handles, timeouts. No C type in its API; knows nothing of Nova.
        .target(name: "AMQP", dependencies: ["CRabbitMQ"]),
        // The domain: instance records, event decoding, the entry mapping, register/unregister,
        // configuration, the event log, the schema definitions.
        .target(name: "NovaDirsvc", dependencies: ["LDAP"]),
        // zlib, bzip2, liblzma, zstd and brotli's decoders, as a system module: the methods of
        // oslo.messaging's kombu_compression. Nothing but the Decompression target imports it.
        .systemLibrary(
            name: "CCompression",
            providers: [.apt(["zlib1g-dev", "libbz2-dev", "liblzma-dev", "libzstd-dev", "libbrotli-dev"])]
        ),
        // Message bodies compressed as kombu compresses them, decoded with a bound on the output.
        .target(name: "Decompression", dependencies: ["CCompression"]),
        // `nova-dirsvc serve` but its HTTP side: the one writer, the bus intake, the configuration
        // reload, the stats, each a service of swift-service-lifecycle's one ServiceGroup.
        .target(
            name: "Serve",
            dependencies: [
                "NovaDirsvc", "AMQP", "LDAP", "Decompression",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // libcrypt (crypt_rn), for the hashed passwords of the HTTP side's Basic users.
        .systemLibrary(name: "CCrypt", providers: [.apt(["libcrypt-dev"])]),
        // The HTTP side of `serve`: routes, token, limits; the directory work on a pool of its own.
        .target(
            name: "HTTPService",
            dependencies: [
                "Serve", "NovaDirsvc", "LDAP", "CCrypt",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // libcurl (Debian's libcurl4-openssl-dev), as a system module: HTTPS to Keystone and Nova.
        // Nothing but the OpenStack target imports it.
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),
        // Keystone v3 authentication (password, application credential), the catalog, Nova's
        // server list page by page; blocking, over libcurl, TLS verified. Knows nothing of LDAP.
        .target(name: "OpenStack", dependencies: ["CCurl"]),
        // Nova's list of servers from its API, for nova-dirsvc's settings ([nova]): serve's
        // scheduled reconcile, and the pages `nova-dirsvc reconcile --from-nova` reads from
        // `nova-dirsvc-serve --nova-servers` (the per-event CLI links no libcurl or OpenSSL).
        .target(name: "NovaAPI", dependencies: ["NovaDirsvc", "OpenStack"]),
        // What both executables share: the connection options and the one exit path.
        .target(
            name: "CommandSupport",
            dependencies: ["NovaDirsvc", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        // The command-line tool: one file per subcommand, no logic of its own. `serve` runs the
        // executable below, so the CLI loads no broker or server code.
        .executableTarget(
            name: "nova-dirsvc",
            dependencies: [
                "NovaDirsvc", "CommandSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // `nova-dirsvc serve`: the resident service, its own executable.
        .executableTarget(
            name: "nova-dirsvc-serve",
            dependencies: [
                "Serve", "HTTPService", "NovaDirsvc", "CommandSupport", "NovaAPI",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // Shared by the test targets: finds the throwaway 389-ds, runs ldapsearch.
        .target(name: "TestSupport", dependencies: ["LDAP"], path: "Tests/TestSupport"),
        .testTarget(name: "LDAPTests", dependencies: ["LDAP", "CLDAP", "TestSupport"]),
        .testTarget(name: "AMQPTests", dependencies: ["AMQP"]),
        .testTarget(name: "DecompressionTests", dependencies: ["Decompression"]),
        .testTarget(name: "ServeTests", dependencies: ["Serve", "NovaDirsvc"]),
        .testTarget(
            name: "HTTPServiceTests",
            dependencies: [
                "HTTPService", "Serve", "NovaDirsvc",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ]
        ),
        .testTarget(name: "NovaDirsvcTests", dependencies: ["NovaDirsvc", "LDAP", "TestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)
