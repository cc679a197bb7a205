package org.cottention.pilot;

import jdk.incubator.vector.FloatVector;
import org.cottention.kernels.Parallel;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/** The machine and software a pilot ran on, for its report: CPU model, ISA, cores, memory, JDK, OS. */
public final class Machine {
    private Machine() {}

    public static Map<String, Object> describe() {
        Map<String, Object> m = new LinkedHashMap<>();
        String model = "unknown", flags = "";
        try {
            for (String line : Files.readAllLines(Path.of("/proc/cpuinfo"))) {
                if (line.startsWith("model name") && model.equals("unknown")) model = line.substring(line.indexOf(':') + 1).trim();
                if (line.startsWith("flags") && flags.isEmpty()) flags = " " + line.substring(line.indexOf(':') + 1).trim() + " ";
            }
        } catch (IOException | RuntimeException e) {
            model = System.getProperty("os.arch");
        }
        m.put("cpu", model);
        m.put("isa", flags.contains(" avx512f ") ? "avx512" : flags.contains(" avx2 ") ? "avx2" : flags.contains(" neon ") || flags.contains(" asimd ") ? "neon" : "other");
        m.put("vectorBits", FloatVector.SPECIES_PREFERRED.vectorBitSize());
        m.put("cores", Runtime.getRuntime().availableProcessors());
        m.put("threads", Parallel.threads());
        m.put("maxHeapBytes", Runtime.getRuntime().maxMemory());
        m.put("memTotalBytes", memTotal());
        m.put("os", System.getProperty("os.name") + " " + System.getProperty("os.version") + " " + System.getProperty("os.arch"));
        m.put("jdk", System.getProperty("java.vm.vendor") + " " + System.getProperty("java.runtime.version"));
        m.put("jvm", System.getProperty("java.vm.name"));
        String v = Machine.class.getPackage().getImplementationVersion();
        m.put("cottention", v != null ? v : "0.1.0");
        return m;
    }

    private static long memTotal() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/meminfo")))
                if (line.startsWith("MemTotal:")) return Long.parseLong(line.replaceAll("\\D+", "")) * 1024;
        } catch (IOException | RuntimeException ignored) {
            // not Linux: unknown
        }
        return -1;
    }
}
