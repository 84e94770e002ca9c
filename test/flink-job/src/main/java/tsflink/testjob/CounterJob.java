package tsflink.testjob;

import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.connector.source.util.ratelimit.RateLimiterStrategy;
import org.apache.flink.connector.datagen.source.DataGeneratorSource;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.util.Collector;

import java.util.HashMap;
import java.util.Map;

/**
 * A keyed counter for the tsflink tests. The source emits 0, 1, 2, ... (count and rate from the
 * arguments; replayable: its position is checkpointed); record n has key n % keys; the counter keeps
 * a ValueState per key and prints "n=<n> key=<key> count=<count>". With exactly-once state every
 * printed line satisfies count == n / keys + 1, across any number of restores.
 *
 * <p>Arguments: --count N (default unbounded), --rate R per second (default 200), --keys K
 * (default 10), --parallelism P (default: the submission's, e.g. flink run -p), --slow-ms M (sleep per record in the counter, to
 * build backpressure for unaligned checkpoints). Checkpointing is configured with `flink run -D`.
 */
public class CounterJob {

    public static void main(String[] args) throws Exception {
        Map<String, String> a = new HashMap<>();
        for (int i = 0; i + 1 < args.length; i += 2) a.put(args[i].replaceFirst("^--", ""), args[i + 1]);
        long count = Long.parseLong(a.getOrDefault("count", String.valueOf(Long.MAX_VALUE)));
        double rate = Double.parseDouble(a.getOrDefault("rate", "200"));
        long keys = Long.parseLong(a.getOrDefault("keys", "10"));

        long slowMs = Long.parseLong(a.getOrDefault("slow-ms", "0"));

        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        // Without --parallelism the submission's (flink run -p, or parallelism.default) applies.
        if (a.containsKey("parallelism")) env.setParallelism(Integer.parseInt(a.get("parallelism")));

        DataGeneratorSource<Long> source =
                new DataGeneratorSource<>(n -> n, count, RateLimiterStrategy.perSecond(rate), Types.LONG);
        DataStream<Long> numbers =
                env.fromSource(source, WatermarkStrategy.noWatermarks(), "numbers")
                        .uid("numbers")
                        .setParallelism(1);
        numbers.keyBy(n -> n % keys, Types.LONG)
                .process(new Counter(slowMs))
                .uid("counter")
                .name("counter")
                .print()
                .uid("print")
                .name("print");
        env.execute("tsflink test counter");
    }

    /** Counts records per key in a ValueState. */
    public static class Counter extends KeyedProcessFunction<Long, Long, String> {
        private final long slowMs;
        private transient ValueState<Long> seen;

        public Counter(long slowMs) {
            this.slowMs = slowMs;
        }

        @Override
        public void processElement(Long n, Context ctx, Collector<String> out) throws Exception {
            if (seen == null) {
                seen = getRuntimeContext().getState(new ValueStateDescriptor<>("count", Types.LONG));
            }
            Long previous = seen.value();
            long next = (previous == null ? 0L : previous) + 1;
            seen.update(next);
            if (slowMs > 0) Thread.sleep(slowMs);
            out.collect("n=" + n + " key=" + ctx.getCurrentKey() + " count=" + next);
        }
    }
}
