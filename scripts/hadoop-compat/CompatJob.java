// The DataStream job scripts/flink-yarn-compat.sh runs with the real Apache Flink on yarn-sim,
// compiled there with javac against the distribution's lib/*.jar (no Maven; no example jars
// ship on PyPI).
//   CompatJob N RATE   N Longs at RATE per second (0: as fast as possible) from one source,
//                      keyBy(x % 4), a running sum per key, printed to the TaskManagers'
//                      stdout (taskmanager.out) as "sum <key> <sum>". With N = 0 the source
//                      never ends (the session job the script kills TaskManagers under).
import org.apache.flink.api.java.tuple.Tuple2;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.source.legacy.SourceFunction;

public class CompatJob {
    public static void main(String[] args) throws Exception {
        if (args.length != 2) {
            throw new IllegalArgumentException("usage: CompatJob N RATE");
        }
        long n = Long.parseLong(args[0]);
        long rate = Long.parseLong(args[1]);
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        env.addSource(new Numbers(n, rate))
                .map(x -> Tuple2.of(x % 4, x))
                .returns(org.apache.flink.api.common.typeinfo.Types.TUPLE(
                        org.apache.flink.api.common.typeinfo.Types.LONG, org.apache.flink.api.common.typeinfo.Types.LONG))
                .keyBy(t -> t.f0)
                .sum(1)
                .map(t -> "sum " + t.f0 + " " + t.f1)
                .print();
        env.execute(n == 0 ? "CompatJob endless" : "CompatJob " + n);
    }

    /** 1..n (or for ever with n = 0), paced to `rate` records per second. */
    static final class Numbers implements SourceFunction<Long> {
        private final long n;
        private final long rate;
        private volatile boolean running = true;

        Numbers(long n, long rate) {
            this.n = n;
            this.rate = rate;
        }

        @Override
        public void run(SourceContext<Long> ctx) throws Exception {
            long start = System.nanoTime();
            for (long i = 1; running && (n == 0 || i <= n); i++) {
                synchronized (ctx.getCheckpointLock()) {
                    ctx.collect(i);
                }
                if (rate > 0) {
                    long due = start + i * 1_000_000_000L / rate;
                    long wait = due - System.nanoTime();
                    if (wait > 0) {
                        Thread.sleep(wait / 1_000_000, (int) (wait % 1_000_000));
                    }
                }
            }
        }

        @Override
        public void cancel() {
            running = false;
        }
    }
}
