package org.cottention.model;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

/** The decay gate's softplus: accurate, the same bits in vector lanes and in the scalar twin, a shut gate exactly 0. */
class CosineGateTest {
    @Test
    void softplusIsAccurateAndTheSameInLanesAndAlone() {
        // a dense grid over every regime: the far tail (e^x below the float exponential's range), small and large y,
        // the region around 0, large x (the x itself branch past 20)
        int n = 40_003; // odd: vector lanes and a scalar tail
        float[] x = new float[n], a = new float[n];
        for (int i = 0; i < n; i++) x[i] = -120f + 150f * i / (n - 1);
        x[0] = GptJ.SHUT_GATE_BIAS;
        x[1] = -0f;
        x[2] = 0f;
        x[3] = 20f;
        x[4] = Math.nextUp(20f);
        CosineGate.logDecay(x, a, n);
        for (int i = 0; i < n; i++) {
            double ref = x[i] > 20 ? x[i] : Math.log1p(Math.exp(x[i]));
            float one = CosineGate.softplus(x[i]);
            assertEquals(Float.floatToIntBits(-one), Float.floatToIntBits(a[i]), "lanes and scalar twin differ at x = " + x[i]);
            // within 4 float ulps of the double reference where the result is a normal float; the far tail (e^x below
            // the exponential's range) gives 0 in place of a subnormal
            if (ref > 1.2e-38) assertEquals(ref, one, 4 * Math.ulp((float) ref), "softplus(" + x[i] + ")");
            else assertTrue(one >= 0 && one < 1.2e-38, "softplus(" + x[i] + ") = " + one);
        }
        assertEquals(0f, CosineGate.softplus(GptJ.SHUT_GATE_BIAS), "a shut gate decays by exactly 0");
        assertEquals(20f, CosineGate.softplus(20f + 1e-5f * 20f) - 1e-5f * 20f, 1e-5f);
        assertEquals((float) Math.log(2), CosineGate.softplus(0f), Math.ulp((float) Math.log(2)));
    }
}
