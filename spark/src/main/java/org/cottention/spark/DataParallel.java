package org.cottention.spark;

import org.apache.spark.api.java.JavaPairRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.cottention.model.Params;
import org.cottention.train.BatchSource;
import org.cottention.train.TrainableModel;
import org.cottention.train.Trainer;
import scala.Tuple2;

import java.io.IOException;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.IntStream;

/**
 * Data-parallel gradients for the shared {@link Trainer}: each optimizer step is one Spark job. The driver broadcasts
 * the parameters; task p of P takes micro-batches [p·A/P, (p+1)·A/P) of the step's A, computes their gradient with
 * the trainer's own {@link Trainer#microBatches} on a replica of the model held by its executor, and the partial
 * gradients are summed up a binary tree back to the driver, which clips and applies AdamW as in one process (Spark
 * MLlib's pattern for its optimisers). Checkpoints, resume, metrics and the progress bar are the trainer's.
 *
 * <p>Summation order is fixed: level l of the tree adds partials 2k and 2k+1 of level l-1, so every sum has exactly two
 * operands, and float addition being commutative, its result does not depend on which partial arrives first, on how
 * Spark schedules the tasks, or on retries. (Spark's treeAggregate folds several partials per node in arrival order,
 * which float addition's non-associativity makes non-deterministic.) With P = 1 the step equals the single-process
 * step bit for bit; with P > 1 the micro-batches are summed in another grouping, which changes the last bits.
 */
public final class DataParallel implements Trainer.Gradients {
    /** Builds, on an executor, what a task trains with; equal instances must build equal replicas. */
    public interface ReplicaFactory extends Serializable {
        /** A key naming this replica (instances with the same key are shared within an executor JVM). */
        String key();

        Replica create() throws IOException;
    }

    /** A model of the driver's architecture (its weights are overwritten each step) and the run's batch source. */
    public record Replica(TrainableModel model, BatchSource data) {}

    /** One task's or one tree node's sum: the gradient, the loss share and the tokens. */
    record Partial(float[] grad, Trainer.StepLoss loss) implements Serializable {
        Partial plus(Partial o) {
            float[] g = grad.clone();
            for (int i = 0; i < g.length; i++) g[i] += o.grad[i];
            return new Partial(g, loss.plus(o.loss));
        }
    }

    private final JavaSparkContext sc;
    private final Params params;
    private final ReplicaFactory factory;
    private final int partitions;

    /**
     * @param params     the driver model's parameters (what the optimizer updates; broadcast each step)
     * @param partitions tasks per step (at most the step's micro-batches: more would idle)
     */
    public DataParallel(JavaSparkContext sc, Params params, ReplicaFactory factory, int partitions) {
        if (partitions < 1) throw new IllegalArgumentException("partitions must be >= 1, got " + partitions);
        this.sc = sc;
        this.params = params;
        this.factory = factory;
        this.partitions = partitions;
    }

    @Override
    public Trainer.StepLoss compute(long step, int accumulation) {
        int p = Math.min(partitions, accumulation);
        sc.setJobDescription("cottention training step " + (step + 1) + " (" + p + " tasks)");  // what the Spark UI lists
        Broadcast<float[]> theta = sc.broadcast(params.data);  // serialised now: a snapshot of this step's weights
        try {
            ReplicaFactory f = factory;
            JavaPairRDD<Integer, Partial> level = sc.parallelize(IntStream.range(0, p).boxed().toList(), p)
                    .mapPartitionsWithIndex((index, ignored) -> {
                        try (var lease = ModelHolder.borrow(f.key(), Replica.class, f::create)) {
                            Params rp = lease.model().model().params();
                            float[] w = theta.value();
                            if (w.length != rp.data.length)
                                throw new IllegalStateException("replica " + f.key() + " has " + rp.data.length + " parameters, the driver " + w.length);
                            System.arraycopy(w, 0, rp.data, 0, w.length);
                            rp.zeroGrad();
                            Trainer.StepLoss s = Trainer.microBatches(lease.model().model(), lease.model().data(), step, accumulation,
                                    (int) ((long) index * accumulation / p), (int) ((long) (index + 1) * accumulation / p));
                            return List.of(new Tuple2<>(index, new Partial(rp.grad().clone(), s))).iterator();
                        }
                    }, true).mapToPair(t -> t);
            for (int n = p; n > 1; n = (n + 1) / 2)
                level = level.mapToPair(t -> new Tuple2<>(t._1() / 2, t._2())).reduceByKey(Partial::plus, (n + 1) / 2);
            List<Tuple2<Integer, Partial>> root = new ArrayList<>(level.collect());
            if (root.size() != 1) throw new IllegalStateException("the gradient tree ended in " + root.size() + " partials");
            Partial total = root.getFirst()._2();
            System.arraycopy(total.grad(), 0, params.grad(), 0, params.size());  // the trainer zeroed it: the sum is the gradient
            return total.loss();
        } finally {
            theta.destroy();
        }
    }

    /** Bytes a step moves, from the sizes alone: the broadcast to each executor and the partials up the tree. */
    public static long bytesPerStep(long parameters, int partitions, int executors) {
        long tree = 0;
        for (int n = partitions; n > 1; n = (n + 1) / 2) tree += n;  // each level ships its n partials
        return 4 * parameters * (executors + tree + 1);
    }
}
