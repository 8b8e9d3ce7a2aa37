#!/bin/sh
# Compile, test and jar hello-java with the JDK alone (no Gradle or Maven to download): target/hello-java.jar.
# --date gives every jar entry the same timestamp, so the same sources make the same jar (and the same deb).
set -eu
rm -rf target
mkdir -p target/classes target/test-classes
javac --release 17 -d target/classes $(find src/main/java -name '*.java' | sort)
javac --release 17 -cp target/classes -d target/test-classes $(find src/test/java -name '*.java' | sort)
java -cp target/classes:target/test-classes example.HelloTest
jar --create --date=2024-01-01T00:00:00Z --file target/hello-java.jar --main-class example.Hello -C target/classes .
