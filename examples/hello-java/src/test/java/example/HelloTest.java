package example;

/** Unit tests without a test framework (nothing to download): run by the build, exit 1 on failure. */
public final class HelloTest {
    private HelloTest() {}

    private static void check(boolean condition, String what) {
        if (!condition) {
            System.err.println("FAILED: " + what);
            System.exit(1);
        }
    }

    public static void main(String[] args) {
        check(Hello.greeting(null).equals("Hello, world!"), "default greeting");
        check(Hello.greeting("buildplat").equals("Hello, buildplat!"), "named greeting");
        System.out.println("HelloTest: 2 checks passed");
    }
}
