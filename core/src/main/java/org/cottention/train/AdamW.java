package org.cottention.train;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;
import org.cottention.kernels.Parallel;
import org.cottention.model.Params;

/**
 * AdamW (Loshchilov & Hutter): Adam moments with bias correction, and weight decay applied to the weights directly
 * (decoupled), only on parameters whose {@link Params.View#decay()} is set. State is two flat buffers shaped like the
 * parameters, so checkpointing them is a copy.
 */
public final class AdamW {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;

    public record Config(float beta1, float beta2, float eps, float weightDecay) {
        public Config {
            if (!(beta1 >= 0 && beta1 < 1)) throw new IllegalArgumentException("beta1 must be in [0,1), got " + beta1);
            if (!(beta2 >= 0 && beta2 < 1)) throw new IllegalArgumentException("beta2 must be in [0,1), got " + beta2);
            if (!(eps > 0)) throw new IllegalArgumentException("eps must be > 0, got " + eps);
            if (!(weightDecay >= 0)) throw new IllegalArgumentException("weight decay must be >= 0, got " + weightDecay);
        }

        public static Config defaults(float weightDecay) {
            return new Config(0.9f, 0.999f, 1e-8f, weightDecay);
        }
    }

    private final Config config;
    public final float[] m;
    public final float[] v;
    private long step;

    public AdamW(Config config, int size) {
        this.config = config;
        this.m = new float[size];
        this.v = new float[size];
    }

    public Config config() {
        return config;
    }

    /** Number of updates applied so far (drives the bias correction). */
    public long step() {
        return step;
    }

    /** Restores the update count after loading m and v from a checkpoint. */
    public void setStep(long step) {
        this.step = step;
    }

    /** One update of every parameter with learning rate lr, from the gradients in params.grad(). */
    public void update(Params params, float lr) {
        update(params, lr, name -> true);
    }

    /** The same, updating only the parameters {@code trainable} accepts (the others, frozen, keep their values and moments). */
    public void update(Params params, float lr, java.util.function.Predicate<String> trainable) {
        step++;
        float b1 = config.beta1, b2 = config.beta2;
        float c1 = (float) (1 - Math.pow(b1, step)), c2 = (float) (1 - Math.pow(b2, step));
        float[] w = params.data, g = params.grad();
        for (Params.View view : params.views()) {
            if (!trainable.test(view.name())) continue;
            float decay = view.decay() ? lr * config.weightDecay : 0f;
            int off = view.offset(), n = view.size();
            Parallel.forRange(n, 1 << 15, (lo, hi) -> update(w, g, m, v, off + lo, hi - lo, lr, b1, b2, c1, c2, config.eps, decay));
        }
    }

    private static void update(float[] w, float[] g, float[] m, float[] v, int off, int n, float lr,
                               float b1, float b2, float c1, float c2, float eps, float decay) {
        int i = 0;
        FloatVector vb1 = FloatVector.broadcast(S, b1), vb2 = FloatVector.broadcast(S, b2);
        FloatVector va1 = FloatVector.broadcast(S, 1 - b1), va2 = FloatVector.broadcast(S, 1 - b2);
        FloatVector vstep = FloatVector.broadcast(S, lr / c1), vc2 = FloatVector.broadcast(S, 1 / c2);
        FloatVector veps = FloatVector.broadcast(S, eps), vkeep = FloatVector.broadcast(S, 1 - decay);
        for (int up = off + S.loopBound(n); off + i < up; i += S.length()) {
            int j = off + i;
            FloatVector gj = FloatVector.fromArray(S, g, j);
            FloatVector mj = FloatVector.fromArray(S, m, j).mul(vb1).add(gj.mul(va1));
            FloatVector vj = FloatVector.fromArray(S, v, j).mul(vb2).add(gj.mul(gj).mul(va2));
            mj.intoArray(m, j);
            vj.intoArray(v, j);
            FloatVector denom = vj.mul(vc2).lanewise(VectorOperators.SQRT).add(veps);
            FloatVector wj = FloatVector.fromArray(S, w, j).mul(vkeep);
            wj.sub(mj.mul(vstep).div(denom)).intoArray(w, j);
        }
        for (; i < n; i++) {
            int j = off + i;
            float gj = g[j];
            m[j] = b1 * m[j] + (1 - b1) * gj;
            v[j] = b2 * v[j] + (1 - b2) * gj * gj;
            float denom = (float) Math.sqrt(v[j] / c2) + eps;
            w[j] = w[j] * (1 - decay) - (lr / c1) * m[j] / denom;
        }
    }
}
