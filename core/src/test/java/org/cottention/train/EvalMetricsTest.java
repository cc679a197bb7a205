package org.cottention.train;

import org.junit.jupiter.api.Test;

import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

class EvalMetricsTest {
    @Test
    void binary() {
        // gold 1 1 1 0 0 0 0 ; pred 1 1 0 1 0 0 0 -> tp 2, fn 1, fp 1, tn 3
        Map<String, Object> m = EvalMetrics.classification(new int[]{1, 1, 1, 0, 0, 0, 0}, new int[]{1, 1, 0, 1, 0, 0, 0}, 2, 1);
        assertEquals(5 / 7.0, (double) m.get("accuracy"), 1e-12);
        assertEquals(2 * 2 / (2 * 2 + 1 + 1.0), (double) m.get("f1"), 1e-12);
        double mcc = (2 * 3 - 1 * 1) / Math.sqrt(3.0 * 3 * 4 * 4);
        assertEquals(mcc, (double) m.get("mcc"), 1e-12);
    }

    @Test
    void multiclassMacroF1AndPerfectMcc() {
        Map<String, Object> m = EvalMetrics.classification(new int[]{0, 1, 2, 2}, new int[]{0, 1, 2, 2}, 3, 1);
        assertEquals(1.0, (double) m.get("f1"), 1e-12);
        assertEquals(1.0, (double) m.get("mcc"), 1e-12);
        Map<String, Object> c = EvalMetrics.classification(new int[]{0, 0, 1, 2}, new int[]{0, 1, 1, 1}, 3, 1);
        assertEquals((2 / 3.0 + 0.5 + 0) / 3, (double) c.get("f1"), 1e-12);
    }

    @Test
    void regression() {
        Map<String, Object> m = EvalMetrics.regression(new float[]{1, 2, 3, 4}, new float[]{1, 4, 9, 16});
        assertEquals(1.0, (double) m.get("spearman"), 1e-12, "monotone");
        assertTrue((double) m.get("pearson") < 1 && (double) m.get("pearson") > 0.95);
        Map<String, Object> ties = EvalMetrics.regression(new float[]{1, 2, 2, 3}, new float[]{3, 2, 2, 1});
        assertEquals(-1.0, (double) ties.get("spearman"), 1e-12, "average ranks for ties");
    }
}
