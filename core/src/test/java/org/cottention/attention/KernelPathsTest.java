package org.cottention.attention;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The kernels under each code path the JVM can produce on this machine: {@link KernelPathsCheck} in child JVMs with
 * -XX:UseAVX=2, -XX:UseAVX=3 (only where the CPU has AVX-512F; skipped elsewhere), -XX:MaxVectorSize=16 (128-bit
 * vectors: the stand-in for NEON) and the other register tile forced (-Dcottention.vectorRegisters=16|32). Each child
 * must match the double references within the kernels' tolerances, give the same bits in every round (interpreted,
 * C1 and C2 code alike), and the products whose summation order does not depend on the tile must be bit-identical
 * across tile shapes (same vector width) and, where no column falls in a scalar tail, across vector widths too.
 */
class KernelPathsTest {
    private static final Map<String, Map<String, String[]>> RESULTS = new LinkedHashMap<>();

    @BeforeAll
    static void runChildren() throws Exception {
        // On an AVX2 machine the default is -XX:UseAVX=2 with 16 registers; 128-bit vectors with 32 registers are
        // what NEON gets; with AVX-512 the default is the 32-register tile, so the 16-register one is forced as well.
        List<List<String>> configs = new ArrayList<>(List.of(List.of("-XX:MaxVectorSize=16", "-Dcottention.vectorRegisters=32"),
                List.of("-XX:MaxVectorSize=16"), List.of("-Dcottention.vectorRegisters=32")));
        if (isX86()) configs.addFirst(List.of("-XX:UseAVX=2"));
        if (hasAvx512()) configs.addAll(List.of(List.of("-XX:UseAVX=3"), List.of("-XX:UseAVX=3", "-Dcottention.vectorRegisters=16")));
        // the children run side by side (each is mostly JIT compilation)
        List<Process> running = new ArrayList<>();
        for (List<String> flags : configs) running.add(start(flags));
        for (int i = 0; i < configs.size(); i++) RESULTS.put(String.join(" ", configs.get(i)), finish(configs.get(i), running.get(i)));
    }

    private static boolean isX86() {
        String arch = System.getProperty("os.arch");
        return arch.equals("amd64") || arch.equals("x86_64");
    }

    private static boolean hasAvx512() throws IOException {
        Path info = Path.of("/proc/cpuinfo");
        return isX86() && Files.exists(info) && Files.readString(info).contains(" avx512f");
    }

    private static Process start(List<String> flags) throws IOException {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--add-modules", "jdk.incubator.vector", "-Xmx512m", "-XX:CICompilerCount=2"));
        cmd.addAll(flags);
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), KernelPathsCheck.class.getName()));
        return new ProcessBuilder(cmd).redirectErrorStream(true).start();
    }

    private static Map<String, String[]> finish(List<String> flags, Process p) throws Exception {
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(300, TimeUnit.SECONDS), "child " + flags + " did not finish");
        assertEquals(0, p.exitValue(), "child " + flags + " failed:\n" + out);
        Map<String, String[]> lines = new LinkedHashMap<>();
        for (String line : out.split("\n")) {
            String[] f = line.trim().split(" ");
            if (f.length >= 3 && !line.startsWith("WARNING")) lines.put(f[0], f);
        }
        assertTrue(lines.containsKey("isa") && lines.containsKey("segmentMatmul"), "child " + flags + " printed:\n" + out);
        return lines;
    }

    @Test
    void everyPathMatchesTheReferencesAndIsStableAcrossCompilers() {
        Map<String, Double> tol = Map.of("blockmm", 2e-6, "blockmmAllWidths", 0.0, "mmPlusLower", 2e-6,
                "cosineCausal", 2e-5, "gemm", 2e-6, "segmentMatmul", 2e-6, "qkvConv", 0.0);
        RESULTS.forEach((flags, lines) -> tol.forEach((name, t) -> {
            String[] f = lines.get(name);
            assertNotNull(f, name + " missing with [" + flags + "]");
            assertEquals(3, f.length, name + " gave different bits in later rounds (compiled code) with [" + flags + "]");
            if (t > 0) assertTrue(Double.parseDouble(f[1]) < t, name + " error " + f[1] + " with [" + flags + "] (" + lines.get("isa")[1] + ")");
        }));
    }

    /** The tile shape (16 or 32 registers) decides nothing about a product's value; the vector width neither, without scalar tails. */
    @Test
    void tileShapesGiveBitIdenticalProducts() {
        Map<String, String> byWidth = new LinkedHashMap<>();
        String allWidths = null;
        java.util.Set<String> registers = new java.util.HashSet<>();
        for (Map.Entry<String, Map<String, String[]>> e : RESULTS.entrySet()) {
            Map<String, String[]> lines = e.getValue();
            String isa = lines.get("isa")[1], width = isa.substring(isa.indexOf('/') + 1);
            registers.add(lines.get("isa")[3]);
            String crc = lines.get("blockmm")[2], prev = byWidth.putIfAbsent(width, crc);
            assertEquals(prev == null ? crc : prev, crc, "BlockMm products differ at " + width + " bits with [" + e.getKey() + "]");
            String all = lines.get("blockmmAllWidths")[2];
            if (allWidths == null) allWidths = all;
            assertEquals(allWidths, all, "BlockMm products (no scalar columns) differ across widths with [" + e.getKey() + "]");
        }
        assertTrue(byWidth.size() >= 2, "ran at one vector width only: " + byWidth.keySet());
        assertEquals(java.util.Set.of("16", "32"), registers, "both register tiles ran");
    }

    /** The convolution works per element: its in-place backward has the bits of the one into zeros, on every path alike. */
    @Test
    void convolutionGivesTheSameBitsOnEveryPath() {
        String crc = null;
        for (Map.Entry<String, Map<String, String[]>> e : RESULTS.entrySet()) {
            String[] f = e.getValue().get("qkvConv");
            assertEquals(0.0, Double.parseDouble(f[1]), "in-place convolution backward differs from the one into zeros with [" + e.getKey() + "]");
            if (crc == null) crc = f[2];
            assertEquals(crc, f[2], "convolution bits differ with [" + e.getKey() + "]");
        }
    }

    /** The isa field the bench rows carry names what the flags asked for. */
    @Test
    void isaNamesTheInstructionSetAndWidth() {
        RESULTS.forEach((flags, lines) -> {
            String isa = lines.get("isa")[1];
            assertTrue(isa.matches("[a-z0-9]+/(128|256|512|1024|2048)"), isa);
            if (flags.contains("UseAVX=2")) assertTrue(isa.startsWith("avx2/"), flags + ": " + isa);
            if (flags.contains("MaxVectorSize=16")) assertTrue(isa.endsWith("/128"), flags + ": " + isa);
            String regs = lines.get("isa")[3];
            if (flags.contains("vectorRegisters=")) assertEquals(flags.replaceAll(".*vectorRegisters=(\\d+).*", "$1"), regs, flags);
        });
    }

    @Test
    void avx512WhereTheCpuHasIt() throws IOException {
        Assumptions.assumeTrue(hasAvx512(), "this CPU has no AVX-512F: -XX:UseAVX=3 cannot run here");
        String isa = RESULTS.get("-XX:UseAVX=3").get("isa")[1];
        assertTrue(isa.startsWith("avx512/"), isa);
    }
}
