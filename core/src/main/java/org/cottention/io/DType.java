package org.cottention.io;

/** Element types of tensors in checkpoint files, with safetensors' names. */
public enum DType {
    F64(8), F32(4), F16(2), BF16(2), I64(8), I32(4), I16(2), I8(1), U8(1), BOOL(1);

    public final int bytes;

    DType(int bytes) {
        this.bytes = bytes;
    }

    /** The dtype named as in a safetensors header, or an exception naming the unknown one. */
    public static DType fromSafetensors(String name) {
        for (DType d : values()) if (d.name().equals(name)) return d;
        throw new IllegalArgumentException("unknown dtype " + Msg.q(name));
    }

    public boolean isFloat() {
        return this == F64 || this == F32 || this == F16 || this == BF16;
    }
}
