package org.cottention.pilot;

import org.cottention.model.AttentionType;

import java.util.ArrayList;
import java.util.List;

/**
 * The registry of pilot variants: the softmax baseline first, then the cosine contenders. A new attention variant
 * is one entry here: its name, how its config derives from the base config (the same shape, tokenizer, data, steps
 * and seed as every other variant), and how it is made from an existing softmax model.
 *
 * <p>The gated cosine variants (issue 9: cosine-gate, cosine-conv, cosine-gate-conv, config fields cosine_gate and
 * qkv_conv_size) enter as entries like {@code new Variant("cosine-gate", "...", COSINE, c -> c.withAttention(COSINE)
 * .withCosineGate(true), null, SWAP_FINETUNE)} (GPT-J only: bert null). Linearization (issue 10) replaces
 * SWAP_FINETUNE by a LINEARIZE conversion of {@link Variant.Conversion}.
 */
public final class Variants {
    private Variants() {}

    public static final List<Variant> ALL = List.of(
            new Variant("softmax", "softmax attention (the baseline)", AttentionType.SOFTMAX,
                    c -> c.withAttention(AttentionType.SOFTMAX), c -> c.withAttention(AttentionType.SOFTMAX), Variant.Conversion.ORIGINAL),
            new Variant("cosine", "cosine attention (Cottention)", AttentionType.COSINE,
                    c -> c.withAttention(AttentionType.COSINE), c -> c.withAttention(AttentionType.COSINE), Variant.Conversion.SWAP_FINETUNE));

    /** The variants named (comma-separated; null or empty: all that apply to the task), in registry order. */
    public static List<Variant> select(String list, Task task) {
        List<Variant> out = new ArrayList<>();
        if (list == null || list.isBlank()) {
            for (Variant v : ALL) if (v.appliesTo(task)) out.add(v);
            return out;
        }
        List<String> names = new ArrayList<>();
        for (String s : list.split(",")) if (!s.isBlank()) names.add(s.trim());
        for (String n : names) {
            Variant v = ALL.stream().filter(x -> x.name().equals(n)).findFirst().orElseThrow(() -> new IllegalArgumentException(
                    "--variants: unknown variant '" + n + "'; known: " + String.join(", ", ALL.stream().filter(x -> x.appliesTo(task)).map(Variant::name).toList())));
            if (!v.appliesTo(task))
                throw new IllegalArgumentException("--variants: '" + n + "' does not apply to " + task.words + "; give one of "
                        + String.join(", ", ALL.stream().filter(x -> x.appliesTo(task)).map(Variant::name).toList()));
        }
        for (Variant v : ALL) if (names.contains(v.name())) out.add(v);
        return out;
    }
}
