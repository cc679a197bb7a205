package org.cottention.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.cottention.io.AtomicFiles;
import org.cottention.io.DType;
import org.cottention.io.SafeTensors;
import org.cottention.model.Params;
import org.cottention.tokenizer.Tokenizer;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * Training checkpoints in a run folder {@code out}:
 * <pre>
 *   out/checkpoint-000100/   config.json, model.safetensors, tokenizer files, optimizer.safetensors, trainer_state.json
 *   out/config.json, out/model.safetensors, tokenizer files   (a copy of the newest: out is itself an HF model folder)
 * </pre>
 * A checkpoint folder is written under a temporary name and renamed into place only when complete, so every
 * {@code checkpoint-*} folder is whole; a crash or a full disk mid-save leaves the previous ones untouched.
 */
public final class Checkpoints {
    static final ObjectMapper JSON = new ObjectMapper();
    public static final String TRAINER_STATE = "trainer_state.json";
    public static final String OPTIMIZER = "optimizer.safetensors";
    public static final String MODEL = "model.safetensors";

    /** What resuming needs besides the weights. */
    public record State(long step, long tokensSeen, double elapsedSeconds, long seed, ObjectNode extra) {}

    private Checkpoints() {}

    /** Saves a complete checkpoint for {@code state.step}, refreshes the top-level model files, keeps the newest {@code keep}. */
    public static Path save(Path out, TrainableModel model, Tokenizer tokenizer, AdamW opt, State state, int keep) throws IOException {
        Files.createDirectories(out);
        String name = String.format("checkpoint-%06d", state.step());
        Path staging = Files.createTempDirectory(out, "." + name + ".");
        try {
            model.saveModel(staging);
            if (tokenizer != null) tokenizer.save(staging);
            Params p = model.params();
            Map<String, String> meta = Map.of("step", Long.toString(state.step()), "optimizer_step", Long.toString(opt.step()));
            SafeTensors.write(staging.resolve(OPTIMIZER), List.of(
                    new SafeTensors.Entry("adam.m", DType.F32, new long[]{p.size()}, opt.m),
                    new SafeTensors.Entry("adam.v", DType.F32, new long[]{p.size()}, opt.v)), meta);
            ObjectNode s = JSON.createObjectNode();
            s.put("step", state.step());
            s.put("optimizer_step", opt.step());
            s.put("tokens_seen", state.tokensSeen());
            s.put("elapsed_seconds", state.elapsedSeconds());
            s.put("seed", state.seed());
            if (state.extra() != null) s.set("extra", state.extra());
            AtomicFiles.writeString(staging.resolve(TRAINER_STATE), JSON.writerWithDefaultPrettyPrinter().writeValueAsString(s));
            Path target = out.resolve(name);
            if (Files.exists(target)) deleteTree(target);
            Files.move(staging, target, StandardCopyOption.ATOMIC_MOVE);
            publish(target, out);
            prune(out, keep);
            return target;
        } catch (IOException | RuntimeException e) {
            try {
                deleteTree(staging);
            } catch (IOException suppressed) {
                e.addSuppressed(suppressed);
            }
            throw new IOException("could not save checkpoint " + name + " in " + out + ": " + e.getMessage()
                    + " (earlier checkpoints are untouched)", e);
        }
    }

    /** Copies the model-folder files of a checkpoint to {@code dir} (each atomically): dir becomes an HF model folder. */
    public static void publish(Path checkpoint, Path dir) throws IOException {
        try (Stream<Path> files = Files.list(checkpoint)) {
            for (Path f : files.toList()) {
                String n = f.getFileName().toString();
                if (n.equals(OPTIMIZER) || n.equals(TRAINER_STATE) || !Files.isRegularFile(f)) continue;
                AtomicFiles.write(dir.resolve(n), o -> Files.copy(f, o));
            }
        }
    }

    /** The newest complete checkpoint folder in a run folder (or the folder itself if it is one), or an error saying why none. */
    public static Path latest(Path runOrCheckpoint) throws IOException {
        if (Files.isRegularFile(runOrCheckpoint.resolve(TRAINER_STATE)) && Files.isRegularFile(runOrCheckpoint.resolve(OPTIMIZER)))
            return runOrCheckpoint;
        List<Path> all = list(runOrCheckpoint);
        if (all.isEmpty()) throw new IOException("no checkpoint-* folder with " + TRAINER_STATE + " in " + runOrCheckpoint + " to resume from");
        return all.get(all.size() - 1);
    }

    /** Reads the trainer state and optimizer moments of a checkpoint into opt (weights are the model loader's job). */
    public static State restore(Path checkpoint, AdamW opt, int paramCount) throws IOException {
        JsonNode s;
        try {
            s = JSON.readTree(checkpoint.resolve(TRAINER_STATE).toFile());
        } catch (IOException e) {
            throw new IOException("unreadable " + TRAINER_STATE + " in " + checkpoint + ": " + e.getMessage(), e);
        }
        if (!s.path("step").canConvertToLong()) throw new IOException(TRAINER_STATE + " in " + checkpoint + " has no step");
        try (SafeTensors st = SafeTensors.open(checkpoint.resolve(OPTIMIZER))) {
            if (!Long.toString(s.get("step").asLong()).equals(st.metadata().get("step")))
                throw new IOException("optimizer state in " + checkpoint + " is from step " + st.metadata().get("step")
                        + " but the trainer state says " + s.get("step").asLong());
            float[] m = st.floats("adam.m"), v = st.floats("adam.v");
            if (m.length != paramCount || v.length != paramCount)
                throw new IOException("optimizer state in " + checkpoint + " has " + m.length + " entries but the model has " + paramCount + " parameters");
            System.arraycopy(m, 0, opt.m, 0, paramCount);
            System.arraycopy(v, 0, opt.v, 0, paramCount);
        }
        opt.setStep(s.path("optimizer_step").asLong());
        return new State(s.get("step").asLong(), s.path("tokens_seen").asLong(), s.path("elapsed_seconds").asDouble(),
                s.path("seed").asLong(), s.has("extra") ? (ObjectNode) s.get("extra") : null);
    }

    static List<Path> list(Path out) throws IOException {
        if (!Files.isDirectory(out)) return List.of();
        List<Path> res = new ArrayList<>();
        try (Stream<Path> s = Files.list(out)) {
            s.filter(p -> p.getFileName().toString().matches("checkpoint-\\d+") && Files.isRegularFile(p.resolve(TRAINER_STATE)))
                    .forEach(res::add);
        }
        res.sort(Comparator.comparing(p -> p.getFileName().toString()));
        return res;
    }

    private static void prune(Path out, int keep) throws IOException {
        List<Path> all = list(out);
        for (int i = 0; i < all.size() - Math.max(1, keep); i++) deleteTree(all.get(i));
    }

    public static void deleteTree(Path p) throws IOException {
        if (!Files.exists(p)) return;
        try (Stream<Path> s = Files.walk(p)) {
            for (Path q : s.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(q);
        }
    }
}
