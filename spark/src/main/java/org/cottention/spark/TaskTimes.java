package org.cottention.spark;

import org.apache.spark.scheduler.SparkListener;
import org.apache.spark.scheduler.SparkListenerTaskEnd;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Collects what the tasks of a job measured (run time, shuffle and result bytes), as Spark's UI shows them, for the
 * job's summary and the per-step bytes of data-parallel training.
 */
public final class TaskTimes extends SparkListener {
    /** One finished task: its stage, partition, run time and the bytes it wrote to shuffles and sent as its result. */
    public record Task(int stage, int partition, long runMillis, long shuffleWriteBytes, long shuffleReadBytes, long resultBytes, long records) {}

    private final List<Task> tasks = new ArrayList<>();

    @Override
    public synchronized void onTaskEnd(SparkListenerTaskEnd end) {
        var m = end.taskMetrics();
        if (m == null) return;
        tasks.add(new Task(end.stageId(), end.taskInfo().index(), m.executorRunTime(), m.shuffleWriteMetrics().bytesWritten(),
                m.shuffleReadMetrics().totalBytesRead(), m.resultSize(), m.outputMetrics().recordsWritten()));
    }

    public synchronized List<Task> tasks() {
        return List.copyOf(tasks);
    }

    public synchronized void clear() {
        tasks.clear();
    }

    /** Per-stage task run times: count, median and max seconds (stages in order). */
    public synchronized Map<Integer, Map<String, Object>> stageSummary() {
        Map<Integer, List<Long>> by = new TreeMap<>();
        for (Task t : tasks) by.computeIfAbsent(t.stage(), k -> new ArrayList<>()).add(t.runMillis());
        Map<Integer, Map<String, Object>> out = new TreeMap<>();
        by.forEach((stage, ms) -> {
            ms.sort(null);
            out.put(stage, Map.of("tasks", ms.size(), "medianSec", ms.get(ms.size() / 2) / 1e3, "maxSec", ms.getLast() / 1e3,
                    "sumSec", ms.stream().mapToLong(Long::longValue).sum() / 1e3));
        });
        return out;
    }
}
