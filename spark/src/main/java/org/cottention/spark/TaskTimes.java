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
    public record Task(int stage, int partition, long runMillis, long cpuNanos, long shuffleWriteBytes, long shuffleReadBytes, long resultBytes, long records) {}

    private final List<Task> tasks = new ArrayList<>();

    @Override
    public synchronized void onTaskEnd(SparkListenerTaskEnd end) {
        var m = end.taskMetrics();
        if (m == null) return;
        tasks.add(new Task(end.stageId(), end.taskInfo().index(), m.executorRunTime(), m.executorCpuTime(), m.shuffleWriteMetrics().bytesWritten(),
                m.shuffleReadMetrics().totalBytesRead(), m.resultSize(), m.outputMetrics().recordsWritten()));
    }

    public synchronized List<Task> tasks() {
        return List.copyOf(tasks);
    }

    public synchronized void clear() {
        tasks.clear();
    }

    /**
     * Per-stage task times (stages in order): count, median / max / summed run seconds, and summed CPU seconds (on a
     * shared machine the CPU time is the steadier measure of the work).
     */
    public synchronized Map<Integer, Map<String, Object>> stageSummary() {
        Map<Integer, List<Task>> by = new TreeMap<>();
        for (Task t : tasks) by.computeIfAbsent(t.stage(), k -> new ArrayList<>()).add(t);
        Map<Integer, Map<String, Object>> out = new TreeMap<>();
        by.forEach((stage, ts) -> {
            List<Long> ms = new ArrayList<>(ts.stream().map(Task::runMillis).sorted().toList());
            Map<String, Object> row = new java.util.LinkedHashMap<>();
            row.put("tasks", ms.size());
            row.put("medianSec", ms.get(ms.size() / 2) / 1e3);
            row.put("maxSec", ms.getLast() / 1e3);
            row.put("sumSec", ms.stream().mapToLong(Long::longValue).sum() / 1e3);
            row.put("cpuSec", ts.stream().mapToLong(Task::cpuNanos).sum() / 1e9);
            out.put(stage, row);
        });
        return out;
    }
}
