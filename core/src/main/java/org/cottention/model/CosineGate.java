package org.cottention.model;

/**
 * The decay gate of gated cosine attention (math doc §8.4), config field {@code cosine_gate}: none (no decay, the
 * paper's attention) or softplus ({@code a_t = -softplus(x_t W_g^T + b_g)} per head).
 */
public enum CosineGate {
    NONE, SOFTPLUS;

    public static CosineGate parse(String s) {
        return switch (s.toLowerCase(java.util.Locale.ROOT)) {
            case "none" -> NONE;
            case "softplus" -> SOFTPLUS;
            default -> throw new IllegalArgumentException("cosine_gate must be none or softplus, got \"" + s + "\"");
        };
    }

    public String configName() {
        return name().toLowerCase(java.util.Locale.ROOT);
    }
}
