package org.cottention.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.cottention.generate.Sampler;
import org.cottention.model.GptJ;
import org.cottention.serve.Completion;
import org.cottention.serve.EngineConfig;
import org.cottention.serve.Generation;
import org.cottention.serve.InferenceEngine;
import org.cottention.serve.SamplingParams;
import org.cottention.tokenizer.Tokenizer;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.PrintStream;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryPoolMXBean;
import java.lang.management.MemoryType;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * {@code cottention generate}: text from a causal LM, in constant memory for cosine models. Runs on
 * {@link InferenceEngine}, the server's engine (one sampling loop): each prompt is a request, all prefilled together
 * and decoded in batched steps.
 */
@Command(name = "generate", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Generate text with a causal LM. The prompt is prefilled in parallel segments whose final cosine state",
                "is handed to the recurrent decoder: memory stays constant however many tokens are seen."})
public final class GenerateCommand implements Callable<Integer> {
    @Mixin
    ModelOptions model;

    @ArgGroup(multiplicity = "1")
    Input input;

    static final class Input {
        @Option(names = "--prompt", paramLabel = "TEXT", description = "Prompt text; repeat for several prompts decoded as one batch.")
        List<String> prompts;

        @Option(names = "--ids", paramLabel = "\"1 2 3\"", description = "Prompt token ids; repeat for several.")
        List<String> ids;
    }

    @Option(names = "--max-new-tokens", description = "Tokens to generate at most (default ${DEFAULT-VALUE}).")
    int maxNewTokens = 100;

    @Option(names = "--temperature", description = "0 = greedy (default ${DEFAULT-VALUE}).")
    float temperature = 0.8f;

    @Option(names = "--top-k", description = "Keep the k most likely tokens, 0 = all (default ${DEFAULT-VALUE}).")
    int topK = 0;

    @Option(names = "--top-p", description = "Nucleus sampling mass, 1 = off (default ${DEFAULT-VALUE}).")
    float topP = 1f;

    @Option(names = "--repetition-penalty", description = "Penalty for tokens already present, 1 = off (default ${DEFAULT-VALUE}).")
    float repetitionPenalty = 1f;

    @Option(names = "--seed", description = "Sampling seed (default ${DEFAULT-VALUE}).")
    long seed = 0;

    @Option(names = "--stop", paramLabel = "TEXT", description = "Stop a row when its text contains this string; repeatable.")
    List<String> stop = new ArrayList<>();

    @Option(names = "--ignore-eos", description = "Do not stop at the end-of-text token.")
    boolean ignoreEos;

    @Option(names = "--prefill-segment", description = "Prompt tokens per parallel prefill segment (default ${DEFAULT-VALUE}).")
    int segment = 512;

    @Option(names = "--json", description = "Print one JSON object per prompt: ids, text, stats.")
    boolean json;

    @Option(names = "--stats", description = "Also write the decoding statistics (the stats of --json) to this JSON file.")
    Path statsFile;

    @Mixin
    ThreadsOption threads;

    /** Timing and memory of a run (the JSON field names of {@code --json}'s "stats" and of {@code --stats}). */
    record Stats(long prefillTokens, double prefillMs, long decodeTokens, double decodeMs, long stateBytes, long peakHeapBytes) {}

    @Override
    public Integer call() throws Exception {
        threads.apply();
        if (maxNewTokens < 0) throw new IllegalArgumentException("--max-new-tokens must be >= 0, got " + maxNewTokens);
        new Sampler.Settings(temperature, topK, topP, repetitionPenalty, seed); // checks the sampling flags, naming them
        GptJ m = model.loadGptJ();
        Tokenizer tok = model.tokenizerOrNull();
        int[][] prompts;
        if (input.prompts != null) {
            if (tok == null) throw new IllegalArgumentException("--prompt needs a tokenizer in " + model.dir + "; use --ids");
            prompts = input.prompts.stream().map(tok::encode).toArray(int[][]::new);
        } else {
            prompts = input.ids.stream().map(GenerateCommand::parseIds).toArray(int[][]::new);
        }
        for (int[] p : prompts) {
            if (p.length == 0) throw new IllegalArgumentException("a prompt encodes to no tokens");
            if (p.length > m.cfg.nPositions())
                System.err.printf("warning: prompt of %d tokens is longer than n_positions %d the model was trained for; continuing%n",
                        p.length, m.cfg.nPositions());
        }
        PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
        boolean stream = !json && prompts.length == 1 && tok != null;
        if (stream && input.prompts != null) out.print(input.prompts.get(0));
        long promptTokens = 0;
        for (int[] p : prompts) promptTokens += p.length;
        // the whole batch at once, as one request per prompt: all prefilled together, then decoded in batched steps
        EngineConfig cfg = new EngineConfig(null, null, prompts.length, prompts.length, Math.max(1, maxNewTokens), segment,
                (int) Math.min(Integer.MAX_VALUE, promptTokens));
        List<Completion> results = new ArrayList<>();
        resetPeaks();
        try (InferenceEngine engine = InferenceEngine.of(model.dir, m, tok, cfg)) {
            List<Generation> gens = new ArrayList<>();
            for (int r = 0; r < prompts.length; r++) {
                // prompt r samples with seed + r; --ignore-eos keeps going past the end-of-text token
                SamplingParams p = new SamplingParams(temperature, topP, topK, repetitionPenalty, maxNewTokens, stop, seed + r, 1, ignoreEos);
                gens.add(engine.submit(InferenceEngine.Request.ids(prompts[r], null, p, stream ? (c, text) -> out.print(text) : null)));
            }
            for (Generation g : gens) results.add(g.result().get());
        } catch (java.util.concurrent.ExecutionException e) {
            if (e.getCause() instanceof Exception c) throw c;
            throw e;
        }
        Stats stats = stats(results, promptTokens);
        if (statsFile != null) Files.writeString(statsFile, new ObjectMapper().writeValueAsString(stats));
        if (stream) {
            out.println();
            System.err.printf("prefill %d tokens in %.0f ms; decoded %d tokens in %.0f ms (%.1f ms/token); state %,d bytes; peak heap %,d bytes%n",
                    stats.prefillTokens(), stats.prefillMs(), stats.decodeTokens(), stats.decodeMs(),
                    stats.decodeMs() / Math.max(1, stats.decodeTokens()), stats.stateBytes(), stats.peakHeapBytes());
            return 0;
        }
        ObjectMapper mapper = new ObjectMapper();
        int eos = m.cfg.eosTokenId();
        for (Completion c : results) {
            Completion.Choice o = c.choices().get(0);
            // the end-of-text token is part of a row's ids (and its text), finish reason "eos"
            int[] ids = o.endOfText() ? java.util.Arrays.copyOf(o.ids(), o.ids().length + 1) : o.ids();
            if (o.endOfText()) ids[ids.length - 1] = eos;
            String text = tok == null ? null : o.endOfText() ? o.text() + tok.decode(new int[]{eos}) : o.text();
            ObjectNode n = mapper.createObjectNode();
            var idArray = n.putArray("ids");
            for (int id : ids) idArray.add(id);
            n.put("text", text);
            n.put("finishReason", o.endOfText() ? "eos" : o.finishReason());
            n.set("stats", mapper.valueToTree(stats));
            if (json) out.println(mapper.writeValueAsString(n));
            else out.println(text);
        }
        return 0;
    }

    /**
     * The run's statistics: prefill from the first submission until the last prompt was in, decoding from then until
     * the last row finished; decoded tokens are those fed back through a recurrent step (each row's tokens but its
     * last, the end-of-text token counted); state bytes of all rows.
     */
    private static Stats stats(List<Completion> results, long promptTokens) {
        long submitted = Long.MAX_VALUE, prefilled = 0, finished = 0, decoded = 0, state = 0;
        for (Completion c : results) {
            submitted = Math.min(submitted, c.timing().submitted());
            prefilled = Math.max(prefilled, c.timing().prefilled());
            finished = Math.max(finished, c.timing().finished());
            Completion.Choice o = c.choices().get(0);
            decoded += Math.max(0, o.ids().length + (o.endOfText() ? 1 : 0) - 1);
            state += o.stateBytes();
        }
        if (prefilled == 0) prefilled = finished;
        return new Stats(promptTokens, (prefilled - submitted) / 1e6, decoded, (finished - prefilled) / 1e6, state, peakHeap());
    }

    private static void resetPeaks() {
        for (MemoryPoolMXBean p : ManagementFactory.getMemoryPoolMXBeans()) if (p.getType() == MemoryType.HEAP) p.resetPeakUsage();
    }

    /** Sum of the heap pools' peak usage since the last reset (includes garbage not yet collected). */
    private static long peakHeap() {
        long s = 0;
        for (MemoryPoolMXBean p : ManagementFactory.getMemoryPoolMXBeans()) if (p.getType() == MemoryType.HEAP) s += p.getPeakUsage().getUsed();
        return s;
    }

    static int[] parseIds(String s) {
        String[] parts = s.trim().split("[\\s,]+");
        if (parts.length == 1 && parts[0].isEmpty()) return new int[0];
        int[] ids = new int[parts.length];
        for (int i = 0; i < parts.length; i++) {
            try {
                ids[i] = Integer.parseInt(parts[i]);
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("--ids: '" + parts[i] + "' is not a token id");
            }
        }
        return ids;
    }
}
