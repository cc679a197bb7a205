package org.cottention.spark;

import org.cottention.data.LmWindows;
import org.cottention.data.TokenFile;
import org.cottention.model.GptJ;
import org.cottention.model.GptJConfig;

import java.io.IOException;
import java.nio.file.Path;

/**
 * A GPT-J replica for data-parallel training: the architecture from a model folder's config.json (the weights are
 * the driver's, broadcast each step, so the folder's are not read) with the driver model's attention chunk, and the
 * training windows from a token file (what {@code cottention train} caches), both on a path every executor can read.
 * The windows are {@link LmWindows} with the run's seed, so every task sees the batches a single process would.
 */
public record CausalLmReplica(String modelDir, String tokenFile, int seqLen, int batch, double valFraction, long seed, int chunk)
        implements DataParallel.ReplicaFactory {
    /** A replica with the default attention chunk (64, what {@code ModelStore.loadGptJ} gives). */
    public CausalLmReplica(String modelDir, String tokenFile, int seqLen, int batch, double valFraction, long seed) {
        this(modelDir, tokenFile, seqLen, batch, valFraction, seed, 64);
    }

    @Override
    public String key() {
        return toString();
    }

    @Override
    public DataParallel.Replica create() throws IOException {
        GptJ m = new GptJ(GptJConfig.read(Path.of(modelDir, "config.json")), chunk);
        return new DataParallel.Replica(m, windows(m));
    }

    /** The run's windows over the token file (the driver builds the same for its evaluation). */
    public LmWindows windows(GptJ m) throws IOException {
        return new LmWindows(TokenFile.open(Path.of(tokenFile), m.cfg.vocabSize()), seqLen, batch, valFraction, seed);
    }
}
