package dev.sluice.bench;

import java.io.IOException;
import java.io.InputStream;
import java.time.Duration;
import java.time.Instant;
import java.util.HashMap;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.processor.StateRestoreListener;
import org.apache.kafka.streams.processor.api.FixedKeyProcessor;
import org.apache.kafka.streams.processor.api.FixedKeyProcessorContext;
import org.apache.kafka.streams.processor.api.FixedKeyRecord;
import org.apache.kafka.streams.state.KeyValueStore;

/**
 * The Kafka Streams peer of sluice's end-to-end benchmarks. One process runs
 * one application, configured by key=value arguments, and reports on stdout,
 * one line per event, with the wall clock in Unix nanoseconds (which the Go
 * benchmark compares with its own):
 *
 * <pre>
 * state RUNNING 1733561234567890123     the application's state changed
 * restore-start 1733561234567890123     the first state store began restoring
 * first 1733561234567890123             the first input record was processed
 * done 1733561234567890123              the expect-th input record was processed
 * </pre>
 *
 * It stops when its stdin closes (so it never outlives the benchmark) and
 * prints "closed" after Kafka Streams has closed.
 *
 * <p>Applications ({@code app=}):
 * <ul>
 * <li>{@code count}: counts the records of {@code in} per key in a RocksDB
 * store named "counts" (changelog {@code <id>-counts-changelog}), as
 * BenchmarkProcessorCount's agents do. At the expect-th record it asks for a
 * commit, so that the benchmark sees the group's offsets cover every record
 * without waiting a whole commit interval.</li>
 * <li>{@code pipe}: {@code topics=t0,t1,...,tn} passes every record of t0 to
 * t1, t1 to t2 and so on, each hop its own sub-topology, as the agents of
 * BenchmarkPipelineLatency do.</li>
 * </ul>
 *
 * Every other setting is Kafka Streams' default, except what the arguments
 * say: {@code guarantee} (processing.guarantee), {@code commit}
 * (commit.interval.ms, which the benchmark sets to sluice's), and any
 * {@code prop.NAME=VALUE}.
 */
public final class Bench {
    private static final AtomicLong processed = new AtomicLong();
    private static final AtomicBoolean restoring = new AtomicBoolean();

    private Bench() {}

    public static void main(String[] args) throws Exception {
        Map<String, String> a = new HashMap<>();
        for (String arg : args) {
            int eq = arg.indexOf('=');
            if (eq <= 0) {
                System.err.println("argument " + arg + ": want key=value");
                System.exit(2);
            }
            a.put(arg.substring(0, eq), arg.substring(eq + 1));
        }
        Properties p = new Properties();
        p.put(StreamsConfig.APPLICATION_ID_CONFIG, need(a, "id"));
        p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, need(a, "bootstrap"));
        p.put(StreamsConfig.STATE_DIR_CONFIG, need(a, "state"));
        p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, a.getOrDefault("guarantee", StreamsConfig.AT_LEAST_ONCE));
        if (a.containsKey("commit")) {
            p.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, a.get("commit"));
        }
        for (Map.Entry<String, String> e : a.entrySet()) {
            if (e.getKey().startsWith("prop.")) {
                p.put(e.getKey().substring(5), e.getValue());
            }
        }

        StreamsBuilder b = new StreamsBuilder();
        switch (need(a, "app")) {
            case "count" -> {
                long expect = Long.parseLong(need(a, "expect"));
                b.stream(need(a, "in"), Consumed.with(Serdes.Bytes(), Serdes.Bytes()))
                    .processValues(() -> new Mark<Bytes>(expect))
                    .groupByKey()
                    .count(Materialized.<Bytes, Long, KeyValueStore<Bytes, byte[]>>as("counts"));
            }
            case "pipe" -> {
                String[] topics = need(a, "topics").split(",");
                for (int i = 0; i + 1 < topics.length; i++) {
                    b.stream(topics[i], Consumed.with(Serdes.Bytes(), Serdes.Bytes()))
                        .to(topics[i + 1], Produced.with(Serdes.Bytes(), Serdes.Bytes()));
                }
            }
            default -> {
                System.err.println("app " + a.get("app") + ": want count or pipe");
                System.exit(2);
            }
        }

        KafkaStreams streams = new KafkaStreams(b.build(), p);
        streams.setStateListener((now, before) -> event("state " + now));
        streams.setGlobalStateRestoreListener(new StateRestoreListener() {
            @Override
            public void onRestoreStart(TopicPartition tp, String store, long start, long end) {
                if (restoring.compareAndSet(false, true)) {
                    event("restore-start");
                }
            }

            @Override
            public void onBatchRestored(TopicPartition tp, String store, long batchEnd, long n) {}

            @Override
            public void onRestoreEnd(TopicPartition tp, String store, long total) {}
        });
        CountDownLatch failed = new CountDownLatch(1);
        streams.setUncaughtExceptionHandler(e -> {
            e.printStackTrace();
            failed.countDown();
            return org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
        });
        streams.start();

        Thread stdin = new Thread(() -> {
            InputStream in = System.in;
            try {
                while (in.read() >= 0) {
                    // until EOF: the benchmark closed its end, or died
                }
            } catch (IOException e) {
                // the same
            }
            failed.countDown();
        });
        stdin.setDaemon(true);
        stdin.start();
        failed.await();
        streams.close(Duration.ofSeconds(60));
        event("closed");
        System.out.flush();
        System.exit(0);
    }

    private static String need(Map<String, String> a, String key) {
        String v = a.get(key);
        if (v == null) {
            System.err.println("missing argument " + key + "=");
            System.exit(2);
        }
        return v;
    }

    /** Prints one event line with the wall clock in Unix nanoseconds. */
    static synchronized void event(String what) {
        Instant now = Instant.now();
        System.out.println(what + " " + (now.getEpochSecond() * 1_000_000_000L + now.getNano()));
        System.out.flush();
    }

    /**
     * Forwards every record unchanged, reporting the first; at the expect-th
     * it reports done and asks for a commit.
     */
    static final class Mark<V> implements FixedKeyProcessor<Bytes, V, V> {
        private final long expect;
        private FixedKeyProcessorContext<Bytes, V> ctx;

        Mark(long expect) {
            this.expect = expect;
        }

        @Override
        public void init(FixedKeyProcessorContext<Bytes, V> ctx) {
            this.ctx = ctx;
        }

        @Override
        public void process(FixedKeyRecord<Bytes, V> r) {
            long n = processed.incrementAndGet();
            if (n == 1) {
                event("first");
            }
            ctx.forward(r);
            if (n == expect) {
                event("done");
                ctx.commit();
            }
        }
    }
}
