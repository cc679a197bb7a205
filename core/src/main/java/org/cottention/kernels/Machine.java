package org.cottention.kernels;

import com.sun.management.HotSpotDiagnosticMXBean;
import jdk.incubator.vector.FloatVector;

import java.lang.management.ManagementFactory;

/**
 * What the hand-tiled kernels need to know about the SIMD unit the JIT compiles for, decided once at start-up: the
 * vector width (the preferred species) and the number of vector registers, which bounds how big a register tile can
 * be before C2 spills it. x86 has 32 vector registers only with AVX-512 (EVEX encoding, zmm0-31, also usable as
 * ymm/xmm16-31), 16 with AVX2/AVX/SSE (ymm/xmm0-15), whatever the vector width; AArch64 has 32 (v0-v31, NEON and
 * SVE). On x86 the ISA is the JVM's {@code UseAVX} level, which is what C2 emits (it is lowered by {@code
 * -XX:UseAVX=N} and capped by the CPU), not merely what the CPU has.
 *
 * <p>{@code -Dcottention.vectorRegisters=16|32} overrides the register count (tests use it to run the other tile shape
 * on one machine).
 */
public final class Machine {
    /** Bits of the preferred float vector: 512 (AVX-512), 256 (AVX2), 128 (SSE, NEON, -XX:MaxVectorSize=16). */
    public static final int VECTOR_BITS = FloatVector.SPECIES_PREFERRED.vectorBitSize();
    private static final String ARCH = System.getProperty("os.arch", "");
    private static final int USE_AVX = isX86() ? vmOption("UseAVX", -1) : -1;
    /** Vector registers available to compiled code (16 or 32). */
    public static final int VECTOR_REGISTERS = Integer.getInteger("cottention.vectorRegisters", defaultRegisters());

    private Machine() {}

    /**
     * The instruction set and vector width the kernels run with, e.g. {@code avx2/256}, {@code avx512/512},
     * {@code avx2/128} (AVX2 limited to 128-bit vectors), {@code neon/128}, {@code sve/512}: the {@code isa} field of
     * every bench row.
     */
    public static String isa() {
        String name;
        if (isX86()) name = switch (USE_AVX) {
            case -1 -> "x86";
            case 0 -> "sse";
            case 1 -> "avx";
            case 2 -> "avx2";
            default -> "avx512";
        };
        else if (ARCH.equals("aarch64")) name = VECTOR_BITS > 128 ? "sve" : "neon";
        else name = ARCH;
        return name + "/" + VECTOR_BITS;
    }

    private static int defaultRegisters() {
        if (ARCH.equals("aarch64")) return 32;
        return USE_AVX >= 3 ? 32 : 16;
    }

    private static boolean isX86() {
        return ARCH.equals("amd64") || ARCH.equals("x86_64");
    }

    private static int vmOption(String name, int fallback) {
        try {
            return Integer.parseInt(ManagementFactory.getPlatformMXBean(HotSpotDiagnosticMXBean.class).getVMOption(name).getValue());
        } catch (RuntimeException e) { // not HotSpot, or the option is gone: assume the conservative value
            return fallback;
        }
    }
}
