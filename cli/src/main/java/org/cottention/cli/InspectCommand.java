package org.cottention.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.cottention.io.Checkpoint;
import org.cottention.io.TensorInfo;
import org.cottention.io.TensorSource;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;

/** {@code cottention inspect --model PATH}: the tensors of a checkpoint (name, dtype, shape) and its config.json summary. */
@Command(name = "inspect", mixinStandardHelpOptions = true,
        description = "List a checkpoint's tensors (name, dtype, shape) and summarize its config.json. Reads safetensors "
                + "(single or sharded) and PyTorch zip checkpoints (pytorch_model.bin) without running their pickle.")
public final class InspectCommand implements Callable<Integer> {
    @Mixin
    ThreadsOption threads;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Option(names = "--model", required = true, paramLabel = "PATH", description = "A checkpoint folder or weights file.")
    Path model;

    @Mixin
    WeightsOption weights;

    @Option(names = "--json", description = "Print one JSON object instead of text.")
    boolean json;

    @Option(names = "--check-finite", description = "Also read every float tensor and fail on the first NaN or infinity.")
    boolean checkFinite;

    private static final ObjectMapper JSON = new ObjectMapper();

    /** config.json keys worth showing, under one name whatever the architecture calls them (GPT-J / BERT). */
    private static final Map<String, String[]> CONFIG_KEYS = new LinkedHashMap<>();

    static {
        CONFIG_KEYS.put("model_type", new String[]{"model_type"});
        CONFIG_KEYS.put("architectures", new String[]{"architectures"});
        CONFIG_KEYS.put("attention_type", new String[]{"attention_type"});
        CONFIG_KEYS.put("vocab_size", new String[]{"vocab_size"});
        CONFIG_KEYS.put("hidden_size", new String[]{"n_embd", "hidden_size"});
        CONFIG_KEYS.put("num_layers", new String[]{"n_layer", "num_hidden_layers"});
        CONFIG_KEYS.put("num_heads", new String[]{"n_head", "num_attention_heads"});
        CONFIG_KEYS.put("intermediate_size", new String[]{"n_inner", "intermediate_size"});
        CONFIG_KEYS.put("max_positions", new String[]{"n_positions", "max_position_embeddings"});
        CONFIG_KEYS.put("rotary_dim", new String[]{"rotary_dim"});
        CONFIG_KEYS.put("cosine_gate", new String[]{"cosine_gate"});
        CONFIG_KEYS.put("qkv_conv_size", new String[]{"qkv_conv_size"});
        CONFIG_KEYS.put("torch_dtype", new String[]{"torch_dtype"});
    }

    @Override
    public Integer call() throws IOException {
        threads.apply();
        Checkpoint.Format format = weights.format();
        PrintWriter out = spec.commandLine().getOut();
        ObjectNode config = configSummary();
        try (TensorSource src = Checkpoint.open(model, format)) {
            if (checkFinite) Checkpoint.checkFinite(src);
            long elements = 0;
            for (String n : src.names()) elements += src.info(n).numel();
            if (json) {
                ObjectNode root = JSON.createObjectNode();
                root.put("path", src.path().toString());
                root.put("format", src.format());
                root.set("config", config);
                root.put("tensor_count", src.names().size());
                root.put("elements", elements);
                if (checkFinite) root.put("finite", true);
                ArrayNode ts = root.putArray("tensors");
                for (String n : src.names()) {
                    TensorInfo i = src.info(n);
                    ObjectNode t = ts.addObject();
                    t.put("name", n);
                    t.put("dtype", i.dtype().name());
                    ArrayNode sh = t.putArray("shape");
                    for (long d : i.shape()) sh.add(d);
                }
                out.println(JSON.writeValueAsString(root));
            } else {
                out.println("checkpoint: " + src.path() + " (" + src.format() + ")");
                if (config == null) out.println("config: no config.json");
                else {
                    StringBuilder sb = new StringBuilder("config:");
                    config.properties().forEach(e -> sb.append(' ').append(e.getKey()).append('=')
                            .append(e.getValue().isTextual() ? e.getValue().asText() : e.getValue().toString()));
                    out.println(sb);
                }
                out.println("tensors: " + src.names().size() + ", elements: " + elements + (checkFinite ? ", all finite" : ""));
                int w = 0;
                for (String n : src.names()) w = Math.max(w, n.length());
                for (String n : src.names()) {
                    TensorInfo i = src.info(n);
                    out.printf("  %-" + w + "s  %-4s  %s%n", n, i.dtype(), i.shapeString());
                }
            }
            out.flush();
        }
        return 0;
    }

    /** The summary of config.json beside the weights, or null when there is none. */
    private ObjectNode configSummary() throws IOException {
        Path dir = Files.isDirectory(model) ? model : model.toAbsolutePath().getParent();
        Path cfg = dir == null ? null : dir.resolve("config.json");
        if (cfg == null || !Files.isRegularFile(cfg)) return null;
        JsonNode root;
        try {
            root = JSON.readTree(cfg.toFile());
        } catch (IOException e) {
            String why = e instanceof com.fasterxml.jackson.core.JsonProcessingException j ? j.getOriginalMessage() : e.getMessage();
            throw new IOException("invalid " + cfg + ": " + why.lines().findFirst().orElse(""));
        }
        if (root == null || !root.isObject()) throw new IOException("invalid " + cfg + ": not a JSON object");
        ObjectNode s = JSON.createObjectNode();
        CONFIG_KEYS.forEach((shown, keys) -> {
            for (String k : keys) {
                if (root.has(k)) {
                    JsonNode v = root.get(k);
                    if (v.isArray() && k.equals("architectures")) {
                        StringBuilder b = new StringBuilder();
                        v.forEach(x -> b.append(b.isEmpty() ? "" : ",").append(x.asText()));
                        s.put(shown, b.toString());
                    } else s.set(shown, v);
                    break;
                }
            }
        });
        return s;
    }
}
