package org.cottention.model;

/** Which attention a model uses: the paper's cosine attention, or the standard softmax it is compared with. */
public enum AttentionType {
    COSINE, SOFTMAX;

    public static AttentionType parse(String s) {
        return switch (s.toLowerCase(java.util.Locale.ROOT)) {
            case "cosine" -> COSINE;
            case "softmax" -> SOFTMAX;
            default -> throw new IllegalArgumentException("attention type must be cosine or softmax, got \"" + s + "\"");
        };
    }

    public String configName() {
        return name().toLowerCase(java.util.Locale.ROOT);
    }
}
