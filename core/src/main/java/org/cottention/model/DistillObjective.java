package org.cottention.model;

import org.cottention.train.Batch;
import org.cottention.train.TrainableModel;

import java.io.IOException;
import java.nio.file.Path;

/**
 * A distillation objective for the shared trainer: the student's parameters are trained, the teacher only runs
 * forward. Subclasses give one step (forward, and backward when training) returning the batch's mean loss.
 */
abstract class DistillObjective implements TrainableModel {
    /** Writes the student's config.json and model.safetensors. */
    @FunctionalInterface
    interface Saver {
        void save(Path dir) throws IOException;
    }

    private final Params student;
    private final Saver saver;
    private final java.util.function.IntToDoubleFunction flops;

    DistillObjective(Params student, Saver saver, java.util.function.IntToDoubleFunction flops) {
        this.student = student;
        this.saver = saver;
        this.flops = flops;
    }

    abstract double step(Batch batch, float gradScale, boolean train);

    @Override public Params params() { return student; }

    @Override public Loss trainStep(Batch batch, float gradScale) { return new Loss(step(batch, gradScale, true), 1); }

    @Override public Loss evaluate(Batch batch) { return new Loss(step(batch, 0, false), 1); }

    @Override public double flopsPerToken(int seqLen) { return flops.applyAsDouble(seqLen); }

    @Override public void saveModel(Path dir) throws IOException { saver.save(dir); }
}
