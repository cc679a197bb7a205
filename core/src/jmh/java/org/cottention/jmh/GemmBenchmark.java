package org.cottention.jmh;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.cottention.kernels.Gemm;
import org.cottention.kernels.Parallel;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * sgemm C[m,n] = A[m,k] B[k,n] (or B stored [n,k] with transB): ours vs OpenBLAS (cblas_sgemm via FFM), and the
 * m == 1 matrix-vector case. Time per call; GFLOPS = 2 m n k / time.
 * Run: java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -jar target/benchmarks.jar GemmBenchmark
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
public class GemmBenchmark {
    /** "MxNxK" */
    @Param({"1024x1024x1024", "64x64x64", "1x4096x4096"})
    public String shape;
    @Param({"1", "2"})
    public int threads;
    @Param({"false"})
    public boolean transB;

    int m, n, k;
    float[] a, b, c;
    Arena arena;
    MemorySegment na, nb, nc;

    @Setup(Level.Trial)
    public void setup() {
        String[] s = shape.split("x");
        m = Integer.parseInt(s[0]);
        n = Integer.parseInt(s[1]);
        k = Integer.parseInt(s[2]);
        SplittableRandom r = new SplittableRandom(7);
        a = new float[m * k];
        b = new float[k * n];
        c = new float[m * n];
        for (int i = 0; i < a.length; i++) a[i] = (float) (r.nextDouble() - 0.5);
        for (int i = 0; i < b.length; i++) b[i] = (float) (r.nextDouble() - 0.5);
        Parallel.setThreads(threads);
        OpenBlas.setThreads(threads);
        arena = Arena.ofShared();
        na = arena.allocate(4L * a.length, 64);
        nb = arena.allocate(4L * b.length, 64);
        nc = arena.allocate(4L * c.length, 64);
        MemorySegment.copy(a, 0, na, ValueLayout.JAVA_FLOAT, 0, a.length);
        MemorySegment.copy(b, 0, nb, ValueLayout.JAVA_FLOAT, 0, b.length);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        arena.close();
    }

    @Benchmark
    public float[] ours() {
        Gemm.sgemm(false, transB, m, n, k, 1f, a, 0, k, b, 0, transB ? k : n, 0f, c, 0, n);
        return c;
    }

    @Benchmark
    public MemorySegment openblas() {
        OpenBlas.sgemm(false, transB, m, n, k, 1f, na, k, nb, transB ? k : n, 0f, nc, n);
        return nc;
    }
}
