// The DataStream jobs scripts/bench-flink-real.sh runs on a standalone Apache Flink 2.3 cluster,
// compiled there with javac against the distribution's lib/*.jar (no Maven).
//   shuffle N        N Longs from a NumberSequenceSource, keyBy(x -> x), reduce (sum), discarding
//                    sink; the parallelism comes from the run request (2 in the bench).
//   state K MARKER   K unique keys into sum state at parallelism 1 (the hashmap backend's heap
//                    cost per key). The source emits 1..K and then idles instead of finishing, so
//                    the state stays in the TaskManager's heap until the job is cancelled; MARKER
//                    is created when key K's sum reaches the sink, i.e. when all K keys are in
//                    state (one source, one channel, records in order).
import java.io.File;
import org.apache.flink.api.common.functions.MapFunction;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.sink.v2.DiscardingSink;
import org.apache.flink.streaming.api.functions.source.legacy.SourceFunction;

public class FlinkBench {
    public static void main(String[] args) throws Exception {
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        if (args.length == 2 && args[0].equals("shuffle")) {
            long n = Long.parseLong(args[1]);
            env.fromSequence(1, n).keyBy(x -> x).reduce((a, b) -> a + b).sinkTo(new DiscardingSink<>());
            env.execute("Shuffle");
        } else if (args.length == 3 && args[0].equals("state")) {
            long k = Long.parseLong(args[1]);
            env.setParallelism(1);
            env.addSource(new EmitThenIdle(k))
                    .keyBy(x -> x)
                    .reduce((a, b) -> a + b)
                    .map(new MarkWhenSeen(k, args[2]))
                    .sinkTo(new DiscardingSink<>());
            env.execute("State");
        } else {
            throw new IllegalArgumentException("usage: FlinkBench shuffle N | FlinkBench state K MARKER");
        }
    }

    /** Emits 1..k, then waits for cancellation (a finished source would end the job and drop the state). */
    static final class EmitThenIdle implements SourceFunction<Long> {
        private final long k;
        private volatile boolean running = true;

        EmitThenIdle(long k) {
            this.k = k;
        }

        @Override
        public void run(SourceContext<Long> ctx) throws Exception {
            for (long i = 1; i <= k && running; i++) {
                synchronized (ctx.getCheckpointLock()) {
                    ctx.collect(i);
                }
            }
            while (running) {
                Thread.sleep(100);
            }
        }

        @Override
        public void cancel() {
            running = false;
        }
    }

    /** Creates the marker file when the value k passes: key k's sum, the last key of the sequence. */
    static final class MarkWhenSeen implements MapFunction<Long, Long> {
        private final long k;
        private final String marker;

        MarkWhenSeen(long k, String marker) {
            this.k = k;
            this.marker = marker;
        }

        @Override
        public Long map(Long v) throws Exception {
            if (v == k) {
                new File(marker).createNewFile();
            }
            return v;
        }
    }
}
