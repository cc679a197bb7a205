package org.cottention.spark;

import org.apache.spark.launcher.JavaModuleOptions;

/**
 * Prints the JVM options Spark needs on this JDK (its --add-opens list and flags, as spark-submit passes them) on one
 * line: what scripts/spark.sh starts the job's JVM with, taken from Spark itself rather than copied.
 */
public final class SparkJvmOptions {
    private SparkJvmOptions() {}

    public static void main(String[] args) {
        System.out.println(JavaModuleOptions.defaultModuleOptions());
    }
}
