package org.cottention.kernels;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.fail;

import java.util.Random;
import java.util.function.Supplier;

/** Shared helpers for the elementwise/normalisation kernel tests: random data, tolerant comparison, thread counts. */
final class OpsTestSupport {
    private OpsTestSupport() {}

    static float[] randn(Random rnd, int n, double scale) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) (rnd.nextGaussian() * scale);
        return a;
    }

    static double[] toDouble(float[] a, int off, int n) {
        double[] d = new double[n];
        for (int i = 0; i < n; i++) d[i] = a[off + i];
        return d;
    }

    /** |actual - expected| <= abs + rel * |expected| for every element of the view. */
    static void assertClose(String what, double[] expected, float[] actual, int off, double abs, double rel) {
        for (int i = 0; i < expected.length; i++) {
            double e = expected[i], a = actual[off + i];
            if (!(Math.abs(a - e) <= abs + rel * Math.abs(e)))
                fail(what + "[" + i + "]: expected " + e + " got " + a + " (diff " + Math.abs(a - e) + ")");
        }
    }

    static void assertClose(String what, double[] expected, double[] actual, double abs, double rel) {
        for (int i = 0; i < expected.length; i++) {
            double e = expected[i], a = actual[i];
            if (!(Math.abs(a - e) <= abs + rel * Math.abs(e)))
                fail(what + "[" + i + "]: expected " + e + " got " + a + " (diff " + Math.abs(a - e) + ")");
        }
    }

    /** Runs body with the given thread count, restoring the previous count afterwards. */
    static <T> T withThreads(int threads, Supplier<T> body) {
        int old = Parallel.threads();
        Parallel.setThreads(threads);
        try {
            return body.get();
        } finally {
            Parallel.setThreads(old);
        }
    }

    /** The arrays body produces with 1, 2 and 3 threads are bit-identical. */
    static void assertThreadIndependent(Supplier<float[][]> body) {
        float[][] one = withThreads(1, body);
        for (int t : new int[] {2, 3}) {
            float[][] many = withThreads(t, body);
            for (int k = 0; k < one.length; k++) assertArrayEquals(one[k], many[k], 0f, "output " + k + " with " + t + " threads");
        }
    }
}
