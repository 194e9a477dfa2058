// Runs Neo4j Community embedded with its Bolt server, for local development
// and tests without Docker. Started by docker/local/neo4j.sh, which compiles it
// once into the cache; it also runs in source-launch mode, no build needed:
//
//   NEO4J_HOME=/tmp/neo4j java -cp "$CACHE/neo4j-jars/*" docker/local/neo4j/Launcher.java
//
// Configured through the environment:
//
//   NEO4J_HOME       DBMS home: data/ and logs/ go below it   (required)
//   NEO4J_BOLT_HOST  address Bolt listens on                  (127.0.0.1)
//   NEO4J_BOLT_PORT  Bolt port                                (7687)
//   NEO4J_PASSWORD   password of the `neo4j` user, >= 8 chars (lineage-local)
//   NEO4J_PAGECACHE  page cache size, e.g. 256m               (256m)
//   NEO4J_PID_FILE   if set, this JVM's pid is written there   (unset)
//
// Bolt is plain text (no TLS), auth is on. The password is applied through the
// system database before "READY" is printed; a restart with another
// NEO4J_PASSWORD changes it. SIGTERM / SIGINT run a shutdown hook that stops
// the DBMS cleanly (checkpoint, store locks released).
//
// JVM flags used by neo4j.sh (without the --add-opens, Neo4j falls back to
// slower paths and logs warnings): --add-opens=java.base/java.nio=ALL-UNNAMED
// --add-opens=java.base/java.io=ALL-UNNAMED --add-opens=java.base/sun.nio.ch=ALL-UNNAMED
// --add-opens=java.base/java.lang=ALL-UNNAMED -Dio.netty.tryReflectionSetAccessible=true

import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.time.LocalTime;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.CountDownLatch;

import org.neo4j.configuration.GraphDatabaseInternalSettings;
import org.neo4j.configuration.GraphDatabaseSettings;
import org.neo4j.configuration.connectors.BoltConnector;
import org.neo4j.configuration.helpers.SocketAddress;
import org.neo4j.dbms.api.DatabaseManagementService;
import org.neo4j.dbms.api.DatabaseManagementServiceBuilder;
import org.neo4j.graphdb.config.Setting;
import org.neo4j.io.ByteUnit;

public class Launcher {

    private static String env(String name, String fallback) {
        String value = System.getenv(name);
        return value == null || value.isBlank() ? fallback : value;
    }

    private static void log(String message) {
        System.out.println(LocalTime.now().withNano(0) + " [neo4j-launcher] " + message);
        System.out.flush();
    }

    public static void main(String[] args) throws Exception {
        String homeValue = env("NEO4J_HOME", null);
        if (homeValue == null) {
            log("NEO4J_HOME is not set");
            System.exit(2);
        }
        Path home = Path.of(homeValue).toAbsolutePath();
        Files.createDirectories(home);
        String host = env("NEO4J_BOLT_HOST", "127.0.0.1");
        int port = Integer.parseInt(env("NEO4J_BOLT_PORT", "7687"));
        String password = env("NEO4J_PASSWORD", "lineage-local");
        if (password.length() < 8) {
            log("NEO4J_PASSWORD must have at least 8 characters");
            System.exit(2);
        }
        long pageCache = ByteUnit.parse(env("NEO4J_PAGECACHE", "256m"));
        String pidFile = env("NEO4J_PID_FILE", null);
        if (pidFile != null) {
            Files.writeString(Path.of(pidFile), ProcessHandle.current().pid() + "\n");
        }

        log("starting Neo4j " + neo4jVersion() + " on Java " + Runtime.version()
                + ", home " + home + " (JVM up " + ManagementFactory.getRuntimeMXBean().getUptime() + " ms)");
        Map<Setting<?>, Object> config = new LinkedHashMap<>();
        config.put(BoltConnector.enabled, true);
        config.put(BoltConnector.listen_address, new SocketAddress(host, port));
        config.put(BoltConnector.advertised_address, new SocketAddress(host, port));
        config.put(BoltConnector.encryption_level, BoltConnector.EncryptionLevel.DISABLED);
        config.put(GraphDatabaseSettings.auth_enabled, true);
        config.put(GraphDatabaseSettings.pagecache_memory, pageCache);
        // small, short-lived transaction logs: this is a dev/test DBMS
        config.put(GraphDatabaseSettings.logical_log_rotation_threshold, ByteUnit.mebiBytes(16));
        config.put(GraphDatabaseSettings.keep_logical_logs, "2 files");
        // Netty's graceful shutdown otherwise waits a 5 s quiet period twice
        // (bolt and bolt-local connectors), making every stop take 10 s longer.
        config.put(GraphDatabaseInternalSettings.netty_server_shutdown_quiet_period, 0);
        config.put(GraphDatabaseInternalSettings.netty_server_shutdown_timeout, Duration.ofSeconds(5));
        DatabaseManagementService dbms = new DatabaseManagementServiceBuilder(home)
                .setConfig(config)
                .build();

        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            log("shutting down");
            try {
                dbms.shutdown();
                log("shut down cleanly");
            } catch (Throwable t) {
                log("shutdown failed: " + t);
                t.printStackTrace(System.out);
            } finally {
                stopped.countDown();
            }
        }, "neo4j-shutdown"));

        log("DBMS started (JVM up " + ManagementFactory.getRuntimeMXBean().getUptime() + " ms)");
        try {
            setPassword(dbms, password, home.resolve("data").resolve("lineage-password.sha256"));
        } catch (Throwable t) {
            log("could not set the password of user neo4j: " + t);
            t.printStackTrace(System.out);
            System.exit(1); // runs the shutdown hook
        }

        // neo4j.sh waits for this exact prefix before probing Bolt
        log("READY bolt://" + host + ":" + port + " user neo4j (JVM up "
                + ManagementFactory.getRuntimeMXBean().getUptime() + " ms)");
        stopped.await();
    }

    // Community has exactly one user, `neo4j`, created with password `neo4j` and
    // "change required". Embedded transactions run with full privileges, so the
    // password can be set directly through the system database. A digest of the
    // last password set is kept next to the databases so that a restart with the
    // same password skips the (slow on a cold JVM) administration command.
    private static void setPassword(DatabaseManagementService dbms, String password, Path marker)
            throws Exception {
        String digest = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256")
                .digest(("privacy-lineage/neo4j:" + password).getBytes(StandardCharsets.UTF_8)));
        if (Files.exists(marker) && Files.readString(marker).strip().equals(digest)) {
            log("password of user neo4j unchanged");
            return;
        }
        var system = dbms.database(GraphDatabaseSettings.SYSTEM_DATABASE_NAME);
        try {
            system.executeTransactionally(
                    "ALTER USER neo4j SET PLAINTEXT PASSWORD $password CHANGE NOT REQUIRED",
                    Map.of("password", password));
        } catch (RuntimeException e) {
            // Already this password (marker lost): Neo4j refuses to "change" it to itself.
            if (!String.valueOf(e.getMessage()).contains("Old password and new password cannot be the same")) {
                throw e;
            }
            system.executeTransactionally("ALTER USER neo4j SET PASSWORD CHANGE NOT REQUIRED");
        }
        Files.writeString(marker, digest + "\n");
        log("password of user neo4j set");
    }

    private static String neo4jVersion() {
        String v = DatabaseManagementServiceBuilder.class.getPackage().getImplementationVersion();
        return v == null ? "(unknown version)" : v;
    }
}
