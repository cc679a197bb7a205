package org.cottention.testutil;

import org.cottention.cli.Main;
import picocli.CommandLine;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;

/** Runs the `cottention` command in-process, capturing stdout and stderr (System streams and picocli's). */
public final class Cli {
    public record Result(int code, String out, String err) {}

    private Cli() {}

    public static synchronized Result run(String... args) {
        PrintStream oldOut = System.out, oldErr = System.err;
        ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
        try {
            System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
            PrintStream e = new PrintStream(err, true, StandardCharsets.UTF_8);
            System.setErr(e);
            CommandLine cl = Main.commandLine();
            cl.setErr(new PrintWriter(e, true));
            int code = cl.execute(args);
            System.out.flush();
            return new Result(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
        } finally {
            System.setOut(oldOut);
            System.setErr(oldErr);
        }
    }
}
