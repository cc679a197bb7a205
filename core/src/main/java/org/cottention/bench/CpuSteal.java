package org.cottention.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.OptionalDouble;

/**
 * How much CPU time the hypervisor gave to other guests while a measurement ran: the share of "steal" in the
 * machine's CPU time between two readings of {@code /proc/stat} (Linux). On a shared virtual machine a benchmark that
 * loses a third of its time this way runs at two thirds of its speed, and a barrier-synchronised multi-threaded kernel
 * loses more; so bench rows carry it ({@code stealPercent}) beside {@code isa}, to say under what conditions each
 * number was taken. Absent (empty) where /proc/stat cannot be read.
 */
public final class CpuSteal {
    private static final Path STAT = Path.of("/proc/stat");
    private final long[] start;

    private CpuSteal(long[] start) {
        this.start = start;
    }

    /** Starts a window now. */
    public static CpuSteal start() {
        return new CpuSteal(read());
    }

    /** Steal as a percentage of all CPU time since {@link #start} (0-100), or empty when it cannot be known. */
    public OptionalDouble percent() {
        long[] now = read();
        if (start == null || now == null) return OptionalDouble.empty();
        long total = 0;
        for (int i = 0; i < now.length; i++) total += now[i] - start[i];
        if (total <= 0) return OptionalDouble.empty();
        return OptionalDouble.of(Math.round(1000.0 * (now[STEAL] - start[STEAL]) / total) / 10.0);
    }

    /** Index of steal in the aggregate line "cpu user nice system idle iowait irq softirq steal ...". */
    private static final int STEAL = 7;

    /** The aggregate line's first eight counters (guest time is already inside user), or null. */
    static long[] read() {
        try {
            for (String line : Files.readAllLines(STAT)) {
                if (!line.startsWith("cpu ")) continue;
                return parse(line);
            }
        } catch (IOException | RuntimeException e) {
            return null; // not Linux, no procfs, or a format we do not know: no figure rather than a wrong one
        }
        return null;
    }

    static long[] parse(String line) {
        String[] f = line.trim().split("\\s+");
        if (f.length < 1 + STEAL + 1) return null; // kernels before 2.6.11 have no steal column
        long[] v = new long[STEAL + 1];
        for (int i = 0; i <= STEAL; i++) v[i] = Long.parseLong(f[1 + i]);
        return v;
    }
}
