package org.cottention.jmh;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * OpenBLAS's cblas_sgemm through FFM, for benchmarks only (the product has no native code). The library comes from
 * Debian's libopenblas0-pthread; override its path with -Dopenblas.lib=/path/libopenblas.so.0.
 */
public final class OpenBlas {
    private static final int ROW_MAJOR = 101, NO_TRANS = 111, TRANS = 112;
    private static final MethodHandle SGEMM, SET_THREADS, CORENAME, CONFIG;

    static {
        String lib = System.getProperty("openblas.lib");
        if (lib == null) {
            for (String p : List.of("/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0",
                    "/usr/lib/x86_64-linux-gnu/libopenblas.so.0", "/usr/lib64/libopenblas.so.0", "/usr/lib/libopenblas.so.0")) {
                if (Files.exists(Path.of(p))) { lib = p; break; }
            }
        }
        if (lib == null) throw new IllegalStateException("OpenBLAS not found: apt-get install libopenblas0-pthread or set -Dopenblas.lib");
        SymbolLookup l = SymbolLookup.libraryLookup(Path.of(lib), Arena.global());
        Linker linker = Linker.nativeLinker();
        ValueLayout I = ValueLayout.JAVA_INT, F = ValueLayout.JAVA_FLOAT, P = ValueLayout.ADDRESS;
        SGEMM = linker.downcallHandle(l.findOrThrow("cblas_sgemm"),
                FunctionDescriptor.ofVoid(I, I, I, I, I, I, F, P, I, P, I, F, P, I));
        SET_THREADS = linker.downcallHandle(l.findOrThrow("openblas_set_num_threads"), FunctionDescriptor.ofVoid(I));
        CORENAME = linker.downcallHandle(l.findOrThrow("openblas_get_corename"), FunctionDescriptor.of(P));
        CONFIG = linker.downcallHandle(l.findOrThrow("openblas_get_config"), FunctionDescriptor.of(P));
    }

    private OpenBlas() {}

    /** Row-major C = alpha op(A) op(B) + beta C on native segments. */
    public static void sgemm(boolean transA, boolean transB, int m, int n, int k, float alpha, MemorySegment a, int lda,
                             MemorySegment b, int ldb, float beta, MemorySegment c, int ldc) {
        try {
            SGEMM.invokeExact(ROW_MAJOR, transA ? TRANS : NO_TRANS, transB ? TRANS : NO_TRANS, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        } catch (Throwable t) {
            throw new RuntimeException(t);
        }
    }

    public static void setThreads(int n) {
        try {
            SET_THREADS.invokeExact(n);
        } catch (Throwable t) {
            throw new RuntimeException(t);
        }
    }

    /** The kernel family OpenBLAS picked for this CPU (e.g. "Zen", "SkylakeX", "Haswell"). */
    public static String corename() {
        return string(CORENAME);
    }

    public static String config() {
        return string(CONFIG);
    }

    private static String string(MethodHandle h) {
        try {
            MemorySegment s = (MemorySegment) h.invokeExact();
            return s.reinterpret(256).getString(0);
        } catch (Throwable t) {
            throw new RuntimeException(t);
        }
    }
}
